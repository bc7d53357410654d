import t from 'tap'
import { SecretBox } from '../lib/crypto.ts'
import { base32Decode, base32Encode, generateTotpSecret, matchTotp, otpauthUri, totpCode, totpStep } from '../lib/totp.ts'

// RFC 6238 appendix B, SHA-1 key "12345678901234567890", last 6 digits of the 8-digit values.
const RFC_SECRET = base32Encode(Buffer.from('12345678901234567890'))
const VECTORS: Array<[number, string]> = [
  [59, '287082'], [1111111109, '081804'], [1111111111, '050471'],
  [1234567890, '005924'], [2000000000, '279037'], [20000000000, '353130']
]

t.test('RFC 6238 test vectors', async (t) => {
  for (const [seconds, code] of VECTORS) t.equal(totpCode(RFC_SECRET, totpStep(seconds * 1000)), code, `T=${seconds}`)
})

t.test('base32 round trip and 160-bit secrets', async (t) => {
  const bytes = Buffer.from('any bytes at all \x00\xff')
  t.same(base32Decode(base32Encode(bytes)), bytes)
  const secret = generateTotpSecret()
  t.equal(base32Decode(secret).length, 20)
  t.not(generateTotpSecret(), secret)
  t.throws(() => base32Decode('not base32!'))
})

t.test('codes are accepted within one step either side, once', async (t) => {
  const now = 1_700_000_000_000
  const step = totpStep(now)
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step), now, null), step)
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step - 1), now, null), step - 1)
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step + 1), now, null), step + 1)
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step - 2), now, null), undefined, 'two steps old is refused')
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step), now, step), undefined, 'a replay is refused')
  t.equal(matchTotp(RFC_SECRET, totpCode(RFC_SECRET, step - 1), now, step), undefined, 'an older code after a newer one is refused')
  t.equal(matchTotp(RFC_SECRET, '12345', now, null), undefined)
  t.equal(matchTotp(RFC_SECRET, 'abcdef', now, null), undefined)
})

t.test('otpauth URI', async (t) => {
  t.equal(otpauthUri('ABC', 'alice'), 'otpauth://totp/MCPHub%3Aalice?secret=ABC&issuer=MCPHub&algorithm=SHA1&digits=6&period=30')
})

t.test('secret box: sealed secrets open with the same hub secret only', async (t) => {
  const box = new SecretBox('a'.repeat(40))
  const sealed = box.seal('JBSWY3DPEHPK3PXP')
  t.notMatch(sealed, /JBSWY3DP/)
  t.not(box.seal('JBSWY3DPEHPK3PXP'), sealed, 'random IV')
  t.equal(box.open(sealed), 'JBSWY3DPEHPK3PXP')
  t.throws(() => new SecretBox('b'.repeat(40)).open(sealed))
  const [v, iv, tag, data] = sealed.split('.')
  const flipped = Buffer.from(data ?? '', 'base64url')
  flipped[0] = flipped[0]! ^ 0x01
  t.throws(() => box.open([v, iv, tag, flipped.toString('base64url')].join('.')), 'tampering is detected')
})
