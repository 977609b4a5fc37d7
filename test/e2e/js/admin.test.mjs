// The admin plane through the AWS SDK for JavaScript v3 (@aws-sdk/client-sso-admin,
// @aws-sdk/client-identitystore): a subset of what test_admin.py does with boto3. A Tessera
// started from nothing is configured (user, group, application, grants, actor policy,
// assignment), a user signs in and refreshes, and the modeled errors arrive as the SDK's
// exception classes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  ConflictException as IdsConflictException,
  CreateGroupCommand,
  CreateGroupMembershipCommand,
  CreateUserCommand,
  IdentitystoreClient,
  ListUsersCommand,
  ResourceNotFoundException as IdsResourceNotFoundException,
} from '@aws-sdk/client-identitystore';
import {
  ConflictException,
  CreateApplicationAssignmentCommand,
  CreateApplicationCommand,
  DescribeApplicationCommand,
  ListApplicationsCommand,
  ListInstancesCommand,
  PutApplicationAuthenticationMethodCommand,
  PutApplicationGrantCommand,
  ResourceNotFoundException,
  SSOAdminClient,
  ValidationException,
} from '@aws-sdk/client-sso-admin';
import { CreateTokenWithIAMCommand, SSOOIDCClient } from '@aws-sdk/client-sso-oidc';

import { ROOT_KEY_ID, ROOT_SECRET, Server, pkcePair, signIn } from './harness.mjs';

const CUSTOM = 'arn:aws:sso::aws:applicationProvider/custom';
const REDIRECT = 'https://js.example/callback';
const PASSWORD = 'a long js password';

let server;
const common = () => ({
  region: 'us-east-1',
  endpoint: server.url,
  credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
  maxAttempts: 1,
});

before(async () => {
  server = await Server.start([], { demo: false });
});
after(async () => {
  await server?.stop();
});

describe('sso-admin and identitystore with the JavaScript SDK', () => {
  test('configure from nothing, then sign in and refresh', async () => {
    const sso = new SSOAdminClient(common());
    const ids = new IdentitystoreClient(common());
    const [instance] = (await sso.send(new ListInstancesCommand({}))).Instances;
    const store = instance.IdentityStoreId;
    const role = `arn:aws:iam::${instance.OwnerAccountId}:role/js-app`;

    const { UserId } = await ids.send(
      new CreateUserCommand({ IdentityStoreId: store, UserName: 'jo', DisplayName: 'Jo' }),
    );
    const { GroupId } = await ids.send(
      new CreateGroupCommand({ IdentityStoreId: store, DisplayName: 'js-staff' }),
    );
    await ids.send(
      new CreateGroupMembershipCommand({
        IdentityStoreId: store,
        GroupId,
        MemberId: { UserId },
      }),
    );
    const { ApplicationArn } = await sso.send(
      new CreateApplicationCommand({
        InstanceArn: instance.InstanceArn,
        ApplicationProviderArn: CUSTOM,
        Name: 'JS app',
      }),
    );
    await sso.send(
      new PutApplicationGrantCommand({
        ApplicationArn,
        GrantType: 'authorization_code',
        Grant: { AuthorizationCode: { RedirectUris: [REDIRECT] } },
      }),
    );
    await sso.send(
      new PutApplicationGrantCommand({
        ApplicationArn,
        GrantType: 'refresh_token',
        Grant: { RefreshToken: {} },
      }),
    );
    await sso.send(
      new PutApplicationAuthenticationMethodCommand({
        ApplicationArn,
        AuthenticationMethodType: 'IAM',
        AuthenticationMethod: {
          Iam: {
            ActorPolicy: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Principal: { AWS: role },
                  Action: 'sso-oauth:CreateTokenWithIAM',
                  Resource: '*',
                },
              ],
            },
          },
        },
      }),
    );
    await sso.send(
      new CreateApplicationAssignmentCommand({
        ApplicationArn,
        PrincipalId: GroupId,
        PrincipalType: 'GROUP',
      }),
    );
    const described = await sso.send(new DescribeApplicationCommand({ ApplicationArn }));
    assert.equal(described.Name, 'JS app');
    assert.ok(described.CreatedDate instanceof Date);

    const pw = await server.tesseraWithInput(PASSWORD + '\n', 'set-password', '--user-name', 'jo');
    assert.equal(pw.code, 0, pw.stderr);
    const key = await server.newAccessKey(role);
    const oidc = new SSOOIDCClient({ ...common(), credentials: key });
    const { verifier, challenge } = pkcePair();
    const redirect = await signIn(server, challenge, {
      user: 'jo',
      password: PASSWORD,
      clientId: ApplicationArn,
      redirectUri: REDIRECT,
    });
    const tokens = await oidc.send(
      new CreateTokenWithIAMCommand({
        clientId: ApplicationArn,
        grantType: 'authorization_code',
        code: redirect.code,
        redirectUri: REDIRECT,
        codeVerifier: verifier,
      }),
    );
    const refreshed = await oidc.send(
      new CreateTokenWithIAMCommand({
        clientId: ApplicationArn,
        grantType: 'refresh_token',
        refreshToken: tokens.refreshToken,
      }),
    );
    assert.ok(refreshed.accessToken);
  });

  test('modeled errors arrive as exception classes', async () => {
    const sso = new SSOAdminClient(common());
    const ids = new IdentitystoreClient(common());
    const [instance] = (await sso.send(new ListInstancesCommand({}))).Instances;
    const { ApplicationArn } = await sso.send(
      new CreateApplicationCommand({
        InstanceArn: instance.InstanceArn,
        ApplicationProviderArn: CUSTOM,
        Name: 'JS errors',
      }),
    );
    await assert.rejects(
      sso.send(
        new CreateApplicationCommand({
          InstanceArn: instance.InstanceArn,
          ApplicationProviderArn: CUSTOM,
          Name: 'JS errors',
        }),
      ),
      (e) => e instanceof ConflictException && /JS errors/.test(e.message),
    );
    await assert.rejects(
      sso.send(
        new DescribeApplicationCommand({
          ApplicationArn: ApplicationArn.slice(0, -16) + '0'.repeat(16),
        }),
      ),
      (e) => e instanceof ResourceNotFoundException,
    );
    await assert.rejects(
      sso.send(
        new PutApplicationGrantCommand({
          ApplicationArn,
          GrantType: 'authorization_code',
          Grant: { AuthorizationCode: { RedirectUris: [] } },
        }),
      ),
      (e) => e instanceof ValidationException && /RedirectUris/.test(e.message),
    );
    await assert.rejects(
      sso.send(
        new ListApplicationsCommand({ InstanceArn: instance.InstanceArn, NextToken: 'bogus/x' }),
      ),
      (e) => e instanceof ValidationException && /NextToken/.test(e.message),
    );
    await ids.send(
      new CreateUserCommand({ IdentityStoreId: instance.IdentityStoreId, UserName: 'twice' }),
    );
    await assert.rejects(
      ids.send(
        new CreateUserCommand({ IdentityStoreId: instance.IdentityStoreId, UserName: 'TWICE' }),
      ),
      (e) => e instanceof IdsConflictException && e.Reason === 'UNIQUENESS_CONSTRAINT_VIOLATION',
    );
    await assert.rejects(
      ids.send(new ListUsersCommand({ IdentityStoreId: 'd-ffffffffff' })),
      (e) => e instanceof IdsResourceNotFoundException && e.ResourceType === 'IDENTITY_STORE',
    );
  });
});
