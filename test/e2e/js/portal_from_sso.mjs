// The JavaScript SDK's `fromSSO` credential provider as an application runs it: the profile of
// AWS_PROFILE (an `sso-session` profile naming an account and a role), the token cache under
// HOME, the portal at AWS_ENDPOINT_URL_SSO. With the role credentials it provides, one sso-admin
// call the permission set allows (ListInstances) and one it does not (CreatePermissionSet).
// Prints what happened as JSON. Run by test/e2e/test_portal.py.
import { fromSSO } from '@aws-sdk/credential-providers';
import {
  CreatePermissionSetCommand,
  ListInstancesCommand,
  SSOAdminClient,
} from '@aws-sdk/client-sso-admin';

const credentials = await fromSSO({ profile: process.env.AWS_PROFILE })();
const admin = new SSOAdminClient({
  region: 'us-east-1',
  endpoint: process.env.TESSERA_URL,
  credentials,
  maxAttempts: 1,
});
const out = {
  accessKeyId: credentials.accessKeyId,
  expiration: credentials.expiration?.toISOString(),
};
const instances = await admin.send(new ListInstancesCommand({}));
out.instanceArn = instances.Instances[0].InstanceArn;
try {
  await admin.send(new CreatePermissionSetCommand({ InstanceArn: out.instanceArn, Name: 'Nope' }));
  out.denied = null;
} catch (e) {
  out.denied = e.name;
  out.deniedMessage = e.message;
}
console.log(JSON.stringify(out));
