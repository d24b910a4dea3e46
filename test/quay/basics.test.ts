import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { QuayClient, userWithToken } from '../support/quay-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

forEachDatabase((database) => {
  describe(`Quay API basics on ${database}`, () => {
    let server: TestServer;
    let skip = false;
    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
    });
    after(() => server?.close());

    test('GET /user/ needs a token; with one it describes the caller; /users/{name} is public', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const anon = new QuayClient(server.url);
      const denied = await anon.get('/user/');
      assert.equal(denied.status, 401);
      assert.equal(denied.body.error_type, 'invalid_token');
      assert.equal(denied.body.session_required, false);
      for (const key of ['status', 'error_message', 'title', 'error_type', 'detail', 'type'])
        assert.ok(key in denied.body, key);

      const { client } = await userWithToken(server, 'quayuser');
      for (const path of ['/user/', '/user']) {
        const me = await client.get(path);
        assert.equal(me.status, 200, path);
        assert.equal(me.body.username, 'quayuser');
        assert.equal(me.body.email, 'quayuser@example.com');
        assert.equal(me.body.avatar.kind, 'user');
      }
      const other = await anon.get('/users/quayuser');
      assert.equal(other.status, 200);
      assert.equal(other.body.username, 'quayuser');
      assert.equal((await anon.get('/users/nobody-here')).status, 404);

      const { client: noScope } = await userWithToken(server, 'quayuser', ['repo:read']);
      assert.equal(
        (await noScope.get('/user/')).status,
        403,
        'a token without user:read cannot read the account',
      );
      assert.equal(
        (await new QuayClient(server.url, 'x'.repeat(40)).get('/user/')).status,
        401,
        'an unknown token is anonymous',
      );
    });

    test('/discovery is a Swagger 2.0 document of the routes; /error/{type} describes errors', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const anon = new QuayClient(server.url);
      const doc = await anon.get('/discovery');
      assert.equal(doc.status, 200);
      assert.equal(doc.body.swagger, '2.0');
      assert.equal(doc.body.paths['/api/v1/user/'].get.operationId, 'getLoggedInUser');
      assert.equal(doc.body.securityDefinitions.oauth2_implicit.flow, 'implicit');
      assert.ok(
        !Object.keys(doc.body.paths).some((p: string) => p.startsWith('/v2')),
        'only the Quay API is described',
      );
      const err = await anon.get('/error/not_found');
      assert.equal(err.status, 200);
      assert.equal(err.body.title, 'not_found');
      assert.equal((await anon.get('/error/no_such_error')).status, 404);
      const missing = await anon.get('/no/such/endpoint');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error_type, 'not_found');
    });
  });
});
