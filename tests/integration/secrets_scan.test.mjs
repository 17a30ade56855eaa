// Issue 2, Done-when 5: no plaintext secret is ever stored or logged. Runs after every other
// integration file (CTest orders it last): reads the secrets they recorded in
// <artifacts>/secrets.txt and byte-searches every file under the artifacts root — SQLite
// databases with their -wal/-shm files, stdout.log, stderr.log — for each of them.
//
// The one allowed occurrence: a bootstrap prints its root key on stdout once, as the line
// `TOLLGATE_ROOT_KEY=<key>`, so a stdout.log may hold that single line.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { artifactsRoot, secretsFile } from './lib/server.mjs';

function listFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(full));
    else if (entry.isFile()) files.push(full);
  }
  return files;
}

function mask(secret) {
  return `${secret.slice(0, 6)}…(${secret.length} chars)`;
}

// Replaces the single bootstrap line of a stdout.log with blanks of the same length, so offsets
// of anything else stay right. More than one such line is itself a finding.
function withoutBootstrapLine(buffer, findings, file) {
  const text = buffer.toString('latin1');
  const lines = [...text.matchAll(/^TOLLGATE_ROOT_KEY=[^\r\n]*$/gm)];
  if (lines.length > 1) findings.push(`${file}: ${lines.length} TOLLGATE_ROOT_KEY= lines; a root key is printed once`);
  if (lines.length === 0) return buffer;
  const copy = Buffer.from(buffer);
  copy.fill(0x20, lines[0].index, lines[0].index + lines[0][0].length);
  return copy;
}

test('no plaintext secret in any database, WAL, or log under the artifacts root', () => {
  assert.ok(existsSync(secretsFile),
    `${secretsFile} does not exist: run the other integration test files first (ctest runs this one last)`);
  const secrets = [...new Set(readFileSync(secretsFile, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean))];
  assert.ok(secrets.length > 0, 'no secrets were recorded: nothing to scan for');
  for (const secret of secrets) {
    assert.ok(secret.length >= 16, `recorded secret ${mask(secret)} is too short to search for without false hits`);
  }

  const files = listFiles(artifactsRoot).filter((f) => path.resolve(f) !== path.resolve(secretsFile));
  const databases = files.filter((f) => /\.db$/.test(f));
  const logs = files.filter((f) => /(stdout|stderr)\.log$/.test(f));
  assert.ok(databases.length > 0, `no SQLite database under ${artifactsRoot}: nothing was scanned`);
  assert.ok(logs.length > 0, `no stdout.log/stderr.log under ${artifactsRoot}: nothing was scanned`);

  const findings = [];
  let bytes = 0;
  for (const file of files) {
    let content = readFileSync(file);
    bytes += content.length;
    const relative = path.relative(artifactsRoot, file);
    if (path.basename(file) === 'stdout.log') content = withoutBootstrapLine(content, findings, relative);
    for (const secret of secrets) {
      const needle = Buffer.from(secret, 'utf8');
      for (let at = content.indexOf(needle); at >= 0; at = content.indexOf(needle, at + 1)) {
        const lineStart = content.lastIndexOf(0x0a, at) + 1;
        const lineEnd = content.indexOf(0x0a, at);
        const context = content.subarray(Math.max(lineStart, at - 80), lineEnd < 0 ? at + needle.length + 80 : Math.min(lineEnd, at + needle.length + 80))
          .toString('utf8').replaceAll(secret, '<SECRET>').replace(/[^\x20-\x7e]/g, '.');
        findings.push(`${relative} @${at}: ${mask(secret)} in "${context}"`);
      }
    }
  }
  console.log(`scanned ${files.length} files (${databases.length} databases, ${logs.length} logs, ${bytes} bytes) for ${secrets.length} secrets`);
  assert.deepEqual(findings, [], `plaintext secrets found:\n  ${findings.join('\n  ')}`);
});
