/* SPDX-License-Identifier: MIT */
#include <stdio.h>

int
main(void)
{
    puts("tgharvest");
    return 0;
}
