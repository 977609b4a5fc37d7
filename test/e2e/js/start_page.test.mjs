// The access portal's start page in headless Chromium: a user signs in at /start, sees the
// account and role an administrator assigned through sso-admin (the JavaScript SDK), presses
// "Command line or programmatic access", and the credentials the page shows call Tessera's admin
// API with the SDK as far as the permission set's inline policy allows. Signing out deletes them.
// Screenshots go to $TS_ARTIFACTS_DIR.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { IdentitystoreClient, ListUsersCommand } from '@aws-sdk/client-identitystore';
import {
  CreateAccountAssignmentCommand,
  CreatePermissionSetCommand,
  ListInstancesCommand,
  ListPermissionSetsCommand,
  PutInlinePolicyToPermissionSetCommand,
  SSOAdminClient,
} from '@aws-sdk/client-sso-admin';

import { DEMO_PASSWORD, ROOT_KEY_ID, ROOT_SECRET, Server, launchChromium } from './harness.mjs';

const ARTIFACTS = resolve(process.env.TS_ARTIFACTS_DIR ?? 'build/test-artifacts');
const ACTION_TIMEOUT_MS = 15_000;
const ACCOUNT = '210987654321';

let server;
let context;

function admin(credentials) {
  return new SSOAdminClient({ region: 'us-east-1', endpoint: server.url, credentials, maxAttempts: 1 });
}

async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

describe('the start page in headless Chromium', () => {
  before(async () => {
    server = await Server.start();
    const declared = await server.tessera(
      'account', 'add', '--account-id', ACCOUNT, '--name', 'Production <e2e>',
      '--email', 'aws+prod@example.com',
    );
    assert.equal(declared.code, 0, declared.stderr);
    // The administrator: a permission set whose policy allows ListInstances only, assigned to the
    // demo user on the account.
    const root = admin({ accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
    const [instance] = (await root.send(new ListInstancesCommand({}))).Instances;
    const ids = new IdentitystoreClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      maxAttempts: 1,
    });
    const users = await ids.send(
      new ListUsersCommand({
        IdentityStoreId: instance.IdentityStoreId,
        Filters: [{ AttributePath: 'UserName', AttributeValue: 'demo' }],
      }),
    );
    const { PermissionSet } = await root.send(
      new CreatePermissionSetCommand({
        InstanceArn: instance.InstanceArn,
        Name: 'ListOnly',
        Description: 'Lists instances, nothing else',
        SessionDuration: 'PT2H',
      }),
    );
    await root.send(
      new PutInlinePolicyToPermissionSetCommand({
        InstanceArn: instance.InstanceArn,
        PermissionSetArn: PermissionSet.PermissionSetArn,
        InlinePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'sso:ListInstances', Resource: '*' }],
        }),
      }),
    );
    await root.send(
      new CreateAccountAssignmentCommand({
        InstanceArn: instance.InstanceArn,
        TargetId: ACCOUNT,
        TargetType: 'AWS_ACCOUNT',
        PermissionSetArn: PermissionSet.PermissionSetArn,
        PrincipalType: 'USER',
        PrincipalId: users.Users[0].UserId,
      }),
    );
    context = await launchChromium({ viewport: { width: 1000, height: 800 } });
  });
  after(async () => {
    await context?.close();
    await server?.stop();
  });

  test('sign in, see the role, get command-line credentials, use them, sign out', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    await page.goto(server.url + '/start');
    await page.getByLabel('User name').fill('demo');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { level: 1, name: 'AWS access portal' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/start');
    // The account as declared (escaped, not markup), and the role in its table.
    await page.getByRole('heading', { level: 3, name: 'Production <e2e>' }).waitFor();
    const roles = page.getByRole('table', { name: 'Roles in Production <e2e>' });
    assert.equal(await roles.getByRole('rowheader').innerText(), 'ListOnly');
    assert.match(await roles.innerText(), /Lists instances, nothing else/);
    assert.match(await page.locator('main').innerText(), /210987654321/);
    await screenshot(page, 'start-portal.png');

    await roles.getByRole('button', { name: 'Command line or programmatic access' }).click();
    await page.getByRole('heading', { level: 1, name: 'Get credentials for ListOnly' }).waitFor();
    const accessKeyId = await page.locator('#access-key-id').innerText();
    const secretAccessKey = await page.locator('#secret-access-key').innerText();
    const sessionToken = await page.locator('#session-token').innerText();
    assert.match(accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    // The page's answer is a POST's: the secrets are in no URL.
    assert.ok(!page.url().includes(secretAccessKey) && !page.url().includes(sessionToken));
    const unix = await page.getByRole('region', { name: 'Option 1: Set AWS environment variables' });
    assert.match(await unix.innerText(), new RegExp(`export AWS_ACCESS_KEY_ID="${accessKeyId}"`));
    assert.match(await page.locator('#profile').innerText(), /^\[210987654321_ListOnly\]\n/);
    await screenshot(page, 'start-credentials.png');

    // The credentials call the admin API as far as the permission set allows.
    const asRole = admin({ accessKeyId, secretAccessKey, sessionToken });
    const listed = await asRole.send(new ListInstancesCommand({}));
    assert.equal(listed.Instances.length, 1);
    await assert.rejects(
      asRole.send(new ListPermissionSetsCommand({ InstanceArn: listed.Instances[0].InstanceArn })),
      (e) => e.name === 'AccessDeniedException' && e.$metadata.httpStatusCode === 400,
    );

    // Signing out deletes them.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await assert.rejects(
      asRole.send(new ListInstancesCommand({})),
      (e) => e.name === 'UnrecognizedClientException',
    );
    await page.goto(server.url + '/start');
    await page.getByLabel('Password').waitFor();
    await page.close();
  });
});
