import { useState } from 'preact/hooks'
import { useI18n } from './i18n.ts'
import { needsMfaCode, signIn, type Session } from './session.ts'

export function SignInPage ({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const { t } = useI18n()
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [mfaCode, setMfaCode] = useState<string | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [working, setWorking] = useState(false)

  const submit = async (event: Event) => {
    event.preventDefault()
    setWorking(true)
    setError(undefined)
    try {
      onSignedIn(await signIn({ username, password, ...(mfaCode === undefined ? {} : { mfaCode }) }))
    } catch (failure) {
      // The password was right and the account has MFA: ask for the code and sign in again.
      if (needsMfaCode(failure) && mfaCode === undefined) setMfaCode('')
      else setError(failure instanceof Error ? failure.message : String(failure))
      setWorking(false)
    }
  }

  return (
    <section class='sign-in' aria-labelledby='sign-in-title'>
      <h1 id='sign-in-title'>{t('signIn.title')}</h1>
      <form onSubmit={submit}>
        <label for='username'>{t('signIn.username')}</label>
        <input id='username' name='username' autocomplete='username' required value={username} onInput={(event) => setUsername(event.currentTarget.value)} />
        <label for='password'>{t('signIn.password')}</label>
        <input id='password' name='password' type='password' autocomplete='current-password' required value={password} onInput={(event) => setPassword(event.currentTarget.value)} />
        {mfaCode !== undefined && (
          <>
            <label for='mfa-code'>{t('signIn.mfaCode')}</label>
            <input
              id='mfa-code' name='mfaCode' inputMode='numeric' autocomplete='one-time-code' pattern='[0-9]{6}' required autoFocus
              aria-describedby='mfa-hint' value={mfaCode} onInput={(event) => setMfaCode(event.currentTarget.value)}
            />
            <p id='mfa-hint' class='hint'>{t('signIn.mfaHint')}</p>
          </>
        )}
        {error !== undefined && <p role='alert' class='error'>{error}</p>}
        <button type='submit' disabled={working}>{working ? t('signIn.working') : t('signIn.submit')}</button>
      </form>
    </section>
  )
}
