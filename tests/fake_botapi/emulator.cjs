// SPDX-License-Identifier: MIT
// Start telegram-test-api (npm), the Bot API emulator, on 127.0.0.1:PORT:
//   node emulator.cjs NODE_MODULES PORT
// Its own HTTP routes drive it: POST /sendMessage (a user's message, with
// botToken), POST /getUpdatesHistory {token} (what the bot sent).
const [modules, port] = process.argv.slice(2);
const TelegramServer = require(`${modules}/telegram-test-api`);

const server = new TelegramServer({ port: Number(port), host: '127.0.0.1', storage: 'RAM',
  storeTimeout: 3600 });
server.start().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
