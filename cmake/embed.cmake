# SPDX-License-Identifier: MIT
# tgh_embed(OUTPUT SYMBOL FILES...): generate a C file defining
#   const struct tgh_embedded SYMBOL[] = { { "name", "bytes", len }, ..., { 0 } };
# in file-name order, so SQL migrations and web assets ship inside the binary.
function(tgh_embed output symbol)
  set(files ${ARGN})
  list(SORT files)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} -DSYMBOL=${symbol} "-DFILES=${files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    VERBATIM)
endfunction()
