// Prometheus' text exposition format 0.0.4 as a scraper reads it, independently of tollgate's
// writer (src/metrics/): `# HELP` and `# TYPE` lines, samples `name{label="value",…} value`, label
// values with \\ \" \n escapes. A line it cannot read throws, naming the line.

const kName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const kSample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/;
const kLabel = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function unescape(text, what) {
  return text.replace(/\\(.)/g, (_, c) => {
    if (c === 'n') return '\n';
    if (c === '\\' || c === '"') return c;
    throw new Error(`${what}: unknown escape \\${c}`);
  });
}

function parseLabels(text, what) {
  const labels = {};
  kLabel.lastIndex = 0;
  while (kLabel.lastIndex < text.length) {
    const start = kLabel.lastIndex;
    const match = kLabel.exec(text);
    if (!match || match.index !== start) throw new Error(`${what}: cannot read labels at "${text.slice(start)}"`);
    if (match[1] in labels) throw new Error(`${what}: label ${match[1]} twice`);
    labels[match[1]] = unescape(match[2], what);
    if (match[3] === '') break;
  }
  return labels;
}

function parseValue(text, what) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`${what}: "${text}" is not a number`);
  return value;
}

/**
 * Reads a /metrics body. Returns { families, samples }: families maps a family name to
 * { name, help, type, helpLine, typeLine, samples: [] } (line numbers from 1; help/type null
 * when absent), samples is every sample in order: { name, labels, value, line, family }. A
 * sample belongs to the family of its own name, else (histograms, summaries) to the family its
 * name has without _bucket, _sum or _count.
 */
export function parseExposition(text) {
  const families = new Map();
  const samples = [];
  const family = (name) => {
    if (!families.has(name)) families.set(name, { name, help: null, type: null, helpLine: null, typeLine: null, samples: [] });
    return families.get(name);
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const what = `line ${line} "${raw}"`;
    if (raw.trim() === '') return;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (!kName.test(name)) throw new Error(`${what}: bad metric name`);
      const f = family(name);
      if (kind === 'HELP') {
        if (f.help !== null) throw new Error(`${what}: a second HELP for ${name}`);
        f.help = rest.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        f.helpLine = line;
      } else {
        if (f.type !== null) throw new Error(`${what}: a second TYPE for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${what}: unknown type`);
        f.type = rest;
        f.typeLine = line;
      }
      return;
    }
    if (raw.startsWith('#')) return;  // a comment
    const match = kSample.exec(raw);
    if (!match) throw new Error(`${what}: not a sample`);
    const [, name, labelText = '', valueText] = match;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const owner = families.has(name) || !families.has(base) ? family(name) : family(base);
    const sample = { name, labels: parseLabels(labelText, what), value: parseValue(valueText, what), line, family: owner.name };
    owner.samples.push(sample);
    samples.push(sample);
  });
  return { families, samples };
}

/** The samples named `name` whose labels include every one of `labels`. */
export function samplesOf(exposition, name, labels = {}) {
  return exposition.samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([label, value]) => s.labels[label] === value));
}

/** The sum of the values of samplesOf(...). */
export function sumOf(exposition, name, labels = {}) {
  return samplesOf(exposition, name, labels).reduce((total, s) => total + s.value, 0);
}
