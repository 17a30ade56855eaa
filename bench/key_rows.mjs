// Generates keys for bench/million_keys.sh: <count> random secrets, of which only what tollgate
// stores is written, as CSV rows "id,hash,start,n" (the lower-case hex SHA-256 of the secret, as
// keys.hash holds it) to <rows file>; every <every>-th secret goes to <sample file>, one a line,
// to verify afterwards. Ids are "key_m<n>", in increasing order (appends to the primary key).
// Node's own modules only.
//
// Usage: node key_rows.mjs <count> <rows file> <sample file> <every>

import { createHash, randomBytes } from 'node:crypto';
import { openSync, writeSync, closeSync, writeFileSync } from 'node:fs';

const [countText, rowsPath, samplePath, everyText] = process.argv.slice(2);
if (!countText || !rowsPath || !samplePath || !everyText) {
  console.error('usage: node key_rows.mjs <count> <rows file> <sample file> <every>');
  process.exit(2);
}
const count = Number(countText);
const every = Number(everyText);
const width = String(count).length;
const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

const rows = openSync(rowsPath, 'w', 0o600);
const sample = [];
let chunk = [];
for (let n = 1; n <= count; ++n) {
  // 22 base58 characters, like a 16-byte key of keys.createKey (the hash is all tollgate sees).
  let secret = '';
  for (const byte of randomBytes(22)) secret += alphabet[byte % 58];
  const hash = createHash('sha256').update(secret).digest('hex');
  chunk.push(`key_m${String(n).padStart(width, '0')},${hash},${secret.slice(0, 4)},${n}\n`);
  if (n % every === 0) sample.push(secret);
  if (chunk.length === 10000) {
    writeSync(rows, chunk.join(''));
    chunk = [];
  }
}
writeSync(rows, chunk.join(''));
closeSync(rows);
writeFileSync(samplePath, sample.join('\n') + '\n', { mode: 0o600 });
