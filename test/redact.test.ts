import t from 'tap'
import { Redactor } from '../supervisor/redact.ts'

// The forms a configured value can take in captured output (the real-process test is in
// supervisor.test.ts; these are the ones its fixture does not print).

t.test('a value JSON-escaped with non-ASCII escaped too (Python json.dumps) is redacted', async (t) => {
  const redactor = new Redactor(['pässwörd-"42"'])
  t.equal(redactor.redact('{"token": "p\\u00e4ssw\\u00f6rd-\\"42\\""}'), '{"token": "[redacted]"}')
  t.equal(redactor.redact('{"token":"pässwörd-\\"42\\""}'), '{"token":"[redacted]"}')
})

t.test('short values and short lines of a multi-line value are left alone', async (t) => {
  const redactor = new Redactor(['abc', 'line-one-secret\n}\nline-two-secret'])
  t.equal(redactor.redact('abc } line-one-secret line-two-secret'), 'abc } [redacted] [redacted]')
})

t.test('a cut line keeps nothing of a value cut in two, whatever the value', async (t) => {
  const redactor = new Redactor(['0123456789abcdef'])
  const line = redactor.line('x'.repeat(100) + '0123456789abcdef', 64)
  t.equal(line, 'x'.repeat(64 - 32 - 15) + ' …[cut, 116 bytes]', 'the last 15 characters (longest value - 1) go')
  t.equal(new Redactor([]).line('x'.repeat(100), 64), 'x'.repeat(32) + ' …[cut, 100 bytes]', 'nothing to hide: only the cut')
  t.equal(redactor.line('short 0123456789abcdef', 64), 'short [redacted]', 'a line within the limit is only redacted')
})
