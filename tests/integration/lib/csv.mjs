// CSV as the exports write it (RFC 4180), read back independently of tollgate's writer.

import assert from 'node:assert/strict';

/** RFC 4180: fields split by commas, rows ended by CRLF, quoted fields with "" for a quote. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') field += text[++i];
      else quoted = false;
    } else if (c === '"') {
      assert.ok(field === '' && !wasQuoted, `a quote inside an unquoted field at byte ${i}`);
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      wasQuoted = false;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      wasQuoted = false;
      ++i;
    } else {
      assert.ok(c !== '\r' && c !== '\n', `a bare CR or LF outside quotes at byte ${i}`);
      field += c;
    }
  }
  assert.ok(!quoted && field === '' && row.length === 0, 'the CSV must end with a complete CRLF-terminated row');
  return rows;
}
