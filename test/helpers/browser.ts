import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import axe from 'axe-core'
import { chromium, type Page } from 'playwright-core'

interface Tap {
  teardown(fn: () => unknown): void
  fail(message: string): void
}

/** Debian's chromium: CI installs it (.ci/run). */
export const CHROMIUM = '/usr/bin/chromium'

/** Where the browser tests leave a screenshot of each page (the README shows two). */
export const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname

export interface BrowserPage {
  page: Page
  /** Script errors and console errors the page met (a CSP refusal, an exception): a test ends by asserting none. */
  pageErrors: string[]
  /** Another page in a browser context of its own (its own cookies: another user's session). */
  newPage: () => Promise<BrowserPage>
}

/**
 * A page in headless chromium, closed with the test; undefined (and the test failed) when
 * chromium is missing. A refused request's console line ("Failed to load resource") is expected
 * of tests that try a wrong password: any other console error is collected in `pageErrors`.
 */
export async function openBrowser (t: Tap): Promise<BrowserPage | undefined> {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`)
    return undefined
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true })
  t.teardown(() => browser.close())
  mkdirSync(SCREENSHOTS, { recursive: true })
  const newPage = async (): Promise<BrowserPage> => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text()) })
    return { page, pageErrors, newPage }
  }
  return await newPage()
}

/** axe-core's serious and critical violations on the page as it stands. */
export async function accessibilityProblems (page: Page): Promise<string[]> {
  // Evaluated by the browser's debugger, not as a page script: the page's CSP stays in force.
  await page.evaluate(axe.source)
  const results = await page.evaluate<axe.AxeResults>('axe.run(document)')
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`)
}

/** docs/screenshots/<name>.png of the page as it stands. */
export async function screenshot (page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** Signs in through the sign-in page (no MFA) and waits for the first page. */
export async function signInThroughPage (page: Page, baseUrl: string, user: { username: string, password: string }): Promise<void> {
  await page.goto(`${baseUrl}/`)
  await page.getByLabel('Username').fill(user.username)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Servers', level: 1 }).waitFor()
}
