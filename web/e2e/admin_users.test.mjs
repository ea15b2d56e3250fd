// Scenario: an admin suspends a user from Admin → Users in Chromium. The user, watching a
// channel with chat open, is cut off at once (signed out, chat read-only); signing in again
// shows the reason and the end date. The admin lifts the suspension and the user signs in;
// the audit log page lists both actions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, register, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an admin suspends a user, whose open page is cut off and whose sign-in says why', async () => {
  const errors = [];
  const host = await register(server.url, 'suspendhost');
  await apiCall(server.url, '/channels', { method: 'POST', token: host.access_token, body: { slug: 'susproom', title: 'Room' } });
  const troll = await register(server.url, 'trollish');

  // The user watches a channel, signed in, chat open.
  const uc = await signedInContext(browser, troll);
  const up = await uc.newPage();
  watchConsole(up, errors);
  await up.goto(`${server.url}/c/susproom`);
  await poll('the chat input', async () => up.getByLabel('Send a message').isEnabled());

  // The admin finds them and suspends them for a day.
  const admin = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'admin', password: server.adminPassword } });
  const ac = await signedInContext(browser, admin);
  const ap = await ac.newPage();
  watchConsole(ap, errors);
  await ap.goto(`${server.url}/admin`);
  await ap.getByRole('link', { name: 'Users' }).first().click();
  await ap.getByLabel('Search users').fill('troll');
  await ap.getByLabel('Search users').press('Enter');
  const row = ap.locator('tr[data-user="trollish"]');
  await row.waitFor();
  await row.getByRole('button', { name: 'Suspend' }).click();
  const dialog = ap.getByRole('dialog');
  // A reason is required: nothing is sent without one.
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  assert.match(await dialog.getByRole('alert').innerText(), /reason/i);
  await dialog.getByLabel('For').selectOption('1d');
  await dialog.getByLabel('Reason (shown to the user)').fill('harassing other viewers');
  await screenshot(ap, 'admin-users-suspend-dialog');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await poll('the row to show the suspension', async () => /suspended until/.test(await row.innerText()));
  assert.match(await row.innerText(), /harassing other viewers/);
  await screenshot(ap, 'admin-users-suspended');

  // The user's page is cut off: signed out, chat read-only.
  await poll('the user signed out', async () => (await up.getByText('Log in or sign up to chat.').count()) === 1, 20_000);
  assert.equal(await up.getByLabel('Send a message').count(), 0);

  // Signing in again says why and until when (through the app: a reload would have the test's
  // context put the old session back).
  await up.getByRole('link', { name: 'Log in' }).first().click();
  await up.getByLabel('Username or email').waitFor();
  await up.getByLabel('Username or email').fill('trollish');
  await up.getByLabel('Password').fill('correct horse battery');
  await up.getByRole('button', { name: 'Log in' }).click();
  const notice = up.getByRole('alert');
  await poll('the suspension notice', async () => /suspended until/.test((await notice.innerText().catch(() => '')) ?? ''));
  assert.match(await notice.innerText(), /Reason: harassing other viewers/);
  await screenshot(up, 'login-suspended');

  // Lifted: the user signs in.
  await row.getByRole('button', { name: 'Unsuspend' }).click();
  await poll('the row active again', async () => /active/.test(await row.innerText()));
  await up.getByRole('button', { name: 'Log in' }).click();
  await poll('signed in', async () => !up.url().endsWith('/login'), 20_000);

  // The audit log lists both, newest first.
  await ap.getByRole('link', { name: 'Audit log' }).click();
  const entries = ap.locator('tr[data-action]');
  await poll('two entries', async () => (await entries.count()) === 2);
  assert.deepEqual(await entries.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action'))), ['user.unsuspend', 'user.suspend']);
  await screenshot(ap, 'admin-audit-log');

  await ac.close();
  await uc.close();
  assert.deepEqual(errors, [], 'no errors in the pages');
});
