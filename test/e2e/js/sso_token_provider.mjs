// The JavaScript SDK's SSO token provider as an application's SDK client runs it: `fromSso` of
// @aws-sdk/token-providers for the profile of AWS_PROFILE, reading ~/.aws/config and the token
// cache under HOME, refreshing through AWS_ENDPOINT_URL_SSO_OIDC. Prints the token it provides
// as JSON. Run by test/e2e/test_sso_token_providers.py.
import { fromSso } from '@aws-sdk/token-providers';

const token = await fromSso({ profile: process.env.AWS_PROFILE })();
console.log(JSON.stringify({ token: token.token, expiration: token.expiration?.toISOString() }));
