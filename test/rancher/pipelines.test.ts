// Rancher's /v3 pipelines on both databases: authentication, CRUD of tech-preview specs and of pipelines as
// code, validation errors, authorization (private projects are missing; readers may not write), actions.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { anonymous } from '../../src/identity/index.js';
import { forEachDatabase, postgresAvailable } from '../support/databases.js';
import { createGitRepo, type GitRepo } from '../support/git-repo.js';
import { sendSignedWebhook } from '../support/native-client.js';
import { RancherClient, rancherUser } from '../support/rancher-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';
import { requireTools } from '../support/tools.js';

const spec = (repo: string, name = 'build-app') => ({
  displayName: name,
  active: true,
  stages: [
    {
      name: 'clone',
      steps: [{ type: 'sourcecode', sourceCodeStepConfig: { repository: repo, branch: 'main' } }],
    },
    {
      name: 'test',
      steps: [
        {
          type: 'runscript',
          runScriptStepConfig: { image: 'busybox:1', shellScript: 'echo hello', env: ['GREETING=hi'] },
        },
        { type: 'runscript', runScriptStepConfig: { image: 'busybox:1', entrypoint: 'echo', args: 'a b' } },
      ],
    },
    {
      name: 'image',
      steps: [{ type: 'buildimage', buildImageStepConfig: { imageTag: 'dev/app:v1' } }],
    },
    { name: 'push', steps: [{ type: 'pushimage', pushImageStepConfig: { imageTag: 'dev/app:v1' } }] },
  ],
  triggers: {
    cronTrigger: { active: true, timezone: 'Europe/Berlin', expression: '0 4 * * *' },
    webhookTrigger: { active: true },
  },
});

forEachDatabase((database) => {
  describe(`Rancher pipelines on ${database}`, { concurrency: false }, () => {
    let server: TestServer;
    let skip = false;
    let workDir: string;
    let repo: GitRepo;
    let dev: RancherClient;
    let other: RancherClient;
    let reader: RancherClient;
    let anon: RancherClient;
    let devToken: string;

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      workDir = await mkdtemp(join(tmpdir(), 'slipway-rancher-'));
      repo = await createGitRepo(join(workDir, 'repo'), { 'README.md': 'app\n' });
      server = await startTestServer({ database, config: { outboundAllow: '127.0.0.0/8' } });
      const devUser = await rancherUser(server, 'dev');
      dev = devUser.client;
      devToken = devUser.token;
      other = (await rancherUser(server, 'other')).client;
      reader = (await rancherUser(server, 'reader')).client;
      anon = new RancherClient(server.url);
      // Organization acme: dev owns it, reader is in a team with the member role (reads, does not write).
      const { organizations, identity } = server.services;
      const devSubject = await identity.findUserByName('dev');
      const owner = {
        ...anonymous,
        kind: 'user',
        id: devSubject!.id,
        name: 'dev',
        superuser: false,
      } as never;
      await organizations.create(owner, { name: 'acme' });
      await organizations.putTeam('acme', 'readers', { role: 'member' }, owner);
      await organizations.addTeamMember('acme', 'readers', 'reader');
    });
    after(async () => {
      if (skip) return;
      await server.close();
      await rm(workDir, { recursive: true, force: true });
    });

    const skipIf = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      return skip || !requireTools(t, 'git');
    };

    test('anonymous callers get 401 but for the root; Basic and Bearer key:secret logins work', async (t) => {
      if (skipIf(t)) return;
      const denied = await anon.get('/projects/local:dev/pipelines');
      assert.equal(denied.status, 401);
      assert.deepEqual(
        { type: denied.body.type, status: denied.body.status, code: denied.body.code },
        { type: 'error', status: 401, code: 'Unauthorized' },
      );
      const root = await anon.get('/');
      assert.equal(root.status, 200);
      assert.match(root.body.links.pipelines, /\/v3\/pipelines$/);

      const basic = new RancherClient(
        server.url,
        `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`,
      );
      assert.equal((await basic.get('/projects/local:dev/pipelines')).status, 200);
      const keyed = new RancherClient(server.url, `Bearer $oauthtoken:${devToken}`);
      const listed = await keyed.get('/projects/local:dev/pipelines');
      assert.equal(listed.status, 200);
      assert.equal(listed.body.type, 'collection');
      assert.equal(listed.body.resourceType, 'pipeline');

      const wrong = new RancherClient(server.url, `Basic ${Buffer.from('dev:nope').toString('base64')}`);
      const refused = await wrong.get('/');
      assert.equal(refused.status, 401, 'bad credentials are refused even where anonymous callers may go');
    });

    test('a tech-preview spec is created, read, listed, exported, updated and deleted', async (t) => {
      if (skipIf(t)) return;
      const created = await dev.post('/projects/local:dev/pipelines', spec(repo.path));
      assert.equal(created.status, 201, created.text);
      const p = created.body;
      assert.equal(p.type, 'pipeline');
      assert.equal(p.displayName, 'build-app');
      assert.equal(p.projectId, 'local:dev');
      assert.equal(p.creatorId, 'dev');
      assert.equal(p.stages.length, 4);
      assert.equal(p.status.pipelineState, 'active');
      assert.equal(p.status.nextRunNumber, 1);
      assert.ok(p.status.webhookId, 'the webhook trigger exists');
      assert.ok(p.status.webhookToken, 'writers see the webhook secret');
      assert.ok(Date.parse(p.status.nextRunTime) > Date.now(), 'the cron schedule has a next tick');
      assert.deepEqual(Object.keys(p.actions).sort(), ['deactivate', 'export', 'run']);
      assert.equal(p.links.self, `${server.url}/v3/projects/local:dev/pipelines/${p.id}`);

      const got = await dev.get(`/projects/local:dev/pipelines/${p.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.id, p.id);
      const listed = await dev.get('/pipelines?projectId=local:dev');
      assert.deepEqual(
        listed.body.data.map((x: { id: string }) => x.id),
        [p.id],
      );

      const exported = await dev.action(`/projects/local:dev/pipelines/${p.id}`, 'export');
      assert.equal(exported.status, 200);
      assert.match(exported.headers.get('content-type') ?? '', /yaml/);
      assert.match(exported.text, /sourceCodeConfig/);
      assert.match(exported.text, /shellScript: echo hello/);
      assert.match(exported.text, /GREETING: hi/);
      assert.match(exported.text, /shellScript: echo a b/);
      assert.match(exported.text, /publishImageConfig/);
      assert.match(exported.text, /tag: dev\/app:v1/);
      const yaml = await dev.get(`/projects/local:dev/pipelines/${p.id}/yaml`);
      assert.equal(yaml.text, exported.text);

      const changed = spec(repo.path);
      changed.stages[1]!.steps = [
        {
          type: 'runscript',
          runScriptStepConfig: { image: 'busybox:1', shellScript: 'echo changed', env: [] },
        },
      ];
      changed.triggers = { webhookTrigger: { active: false } } as never;
      const updated = await dev.put(`/projects/local:dev/pipelines/${p.id}`, changed);
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.stages[1].steps.length, 1);
      assert.equal(updated.body.status.webhookId, undefined, 'the webhook is gone with its trigger');
      assert.equal(updated.body.status.nextRunTime, undefined, 'so is the schedule');
      const reexported = await dev.action(`/projects/local:dev/pipelines/${p.id}`, 'export');
      assert.match(reexported.text, /echo changed/);

      const removed = await dev.delete(`/projects/local:dev/pipelines/${p.id}`);
      assert.equal(removed.status, 200);
      assert.equal((await dev.get(`/projects/local:dev/pipelines/${p.id}`)).status, 404);
      assert.equal(
        (await server.services.runs.findPipelineByName('dev', 'build-app')) === undefined,
        true,
        'the Slipway pipeline is gone too',
      );
    });

    test('invalid specs are refused with 422 naming the field; a taken name is 409 NotUnique', async (t) => {
      if (skipIf(t)) return;
      const cases: Array<[string, unknown, string, string]> = [
        ['no name', { ...spec(repo.path), displayName: undefined }, 'MissingRequired', 'displayName'],
        [
          'no image',
          (() => {
            const s = spec(repo.path, 'x1');
            (s.stages[1]!.steps[0] as { runScriptStepConfig: object }).runScriptStepConfig = {
              shellScript: 'x',
            };
            return s;
          })(),
          'MissingRequired',
          'stages[1].steps[0].runScriptStepConfig.image',
        ],
        [
          'unknown type',
          (() => {
            const s = spec(repo.path, 'x2');
            (s.stages[1]!.steps[1] as { type: string }).type = 'deploy';
            return s;
          })(),
          'InvalidBodyContent',
          'stages[1].steps[1].type',
        ],
        [
          'push without build',
          (() => {
            const s = spec(repo.path, 'x3');
            s.stages.splice(2, 1);
            return s;
          })(),
          'InvalidBodyContent',
          'stages[2].steps[0].pushImageStepConfig.imageTag',
        ],
        [
          'bad env',
          (() => {
            const s = spec(repo.path, 'x4');
            (s.stages[1]!.steps[0] as { runScriptStepConfig: { env: string[] } }).runScriptStepConfig.env = [
              '1=2',
            ];
            return s;
          })(),
          'InvalidBodyContent',
          'stages[1].steps[0].runScriptStepConfig.env[0]',
        ],
        [
          'bad cron',
          { ...spec(repo.path, 'x5'), triggers: { cronTrigger: { active: true, expression: 'every day' } } },
          'InvalidBodyContent',
          'triggers.cronTrigger.expression',
        ],
        [
          'bad time zone',
          {
            ...spec(repo.path, 'x6'),
            triggers: { cronTrigger: { active: true, expression: '0 4 * * *', timezone: 'Mars/Olympus' } },
          },
          'InvalidBodyContent',
          'triggers.cronTrigger.timezone',
        ],
        [
          'no source step first',
          (() => {
            const s = spec(repo.path, 'x7');
            s.stages.shift();
            return s;
          })(),
          'MissingRequired',
          'stages[0].steps[0].type',
        ],
        [
          'both forms',
          { ...spec(repo.path, 'x8'), repositoryUrl: repo.path },
          'InvalidBodyContent',
          'stages',
        ],
        ['active not a boolean', { ...spec(repo.path, 'x9'), active: 'yes' }, 'InvalidFormat', 'active'],
      ];
      for (const [what, body, code, field] of cases) {
        const res = await dev.post('/projects/local:dev/pipelines', body);
        assert.equal(res.status, 422, `${what}: ${res.text}`);
        assert.equal(res.body.type, 'error', what);
        assert.equal(res.body.code, code, `${what}: ${res.text}`);
        assert.equal(res.body.fieldName, field, `${what}: ${res.text}`);
      }
      const notJson = await dev.request('POST', '/projects/local:dev/pipelines', '{"displayName":');
      assert.equal(notJson.status, 422, notJson.text);
      assert.equal(notJson.body.code, 'InvalidBodyContent');
      assert.deepEqual(
        (await dev.get('/projects/local:dev/pipelines')).body.data,
        [],
        'nothing was stored by refused requests',
      );

      assert.equal((await dev.post('/projects/local:dev/pipelines', spec(repo.path, 'dup'))).status, 201);
      const again = await dev.post('/projects/local:dev/pipelines', spec(repo.path, 'dup'));
      assert.equal(again.status, 409, again.text);
      assert.equal(again.body.code, 'NotUnique');
      assert.equal(again.body.fieldName, 'displayName');
    });

    test('private projects are missing to others; readers read but may not write', async (t) => {
      if (skipIf(t)) return;
      const mine = await dev.post('/projects/local:dev/pipelines', spec(repo.path, 'private-one'));
      assert.equal(mine.status, 201);
      const id = mine.body.id as string;

      for (const path of [
        `/projects/local:dev/pipelines/${id}`,
        '/projects/local:dev/pipelines',
        '/projects/local:nobody/pipelines',
        '/projects/c-123:p-456/pipelines',
      ]) {
        const res = await other.get(path);
        assert.equal(res.status, 404, path);
        assert.equal(res.body.code, 'NotFound');
      }
      const denied = await other.get(`/projects/local:dev/pipelines/${id}`);
      const missing = await other.get('/projects/local:nobody/pipelines');
      assert.equal(
        denied.body.message.replace('local:dev', 'X'),
        missing.body.message.replace('local:nobody', 'X'),
      );
      assert.equal((await other.action(`/projects/local:dev/pipelines/${id}`, 'run')).status, 404);
      // Another project's pipeline through my own project's URL is missing as well.
      assert.equal((await other.get(`/projects/local:other/pipelines/${id}`)).status, 404);

      const orgPipeline = await dev.post('/projects/local:acme/pipelines', spec(repo.path, 'org-one'));
      assert.equal(orgPipeline.status, 201, orgPipeline.text);
      const orgId = orgPipeline.body.id as string;
      const read = await reader.get(`/projects/local:acme/pipelines/${orgId}`);
      assert.equal(read.status, 200);
      assert.equal(read.body.status.webhookToken, undefined, 'readers do not see the webhook secret');
      assert.ok(read.body.status.webhookId);
      assert.deepEqual(Object.keys(read.body.actions), ['export']);
      assert.equal(read.body.links.update, undefined);
      for (const res of [
        await reader.post('/projects/local:acme/pipelines', spec(repo.path, 'by-reader')),
        await reader.put(`/projects/local:acme/pipelines/${orgId}`, spec(repo.path, 'org-one')),
        await reader.delete(`/projects/local:acme/pipelines/${orgId}`),
        await reader.action(`/projects/local:acme/pipelines/${orgId}`, 'run'),
        await reader.action(`/projects/local:acme/pipelines/${orgId}`, 'deactivate'),
      ]) {
        assert.equal(res.status, 403, res.text);
        assert.equal(res.body.code, 'PermissionDenied');
      }
      assert.equal((await reader.action(`/projects/local:acme/pipelines/${orgId}`, 'export')).status, 200);
      const unknownAction = await dev.action(`/projects/local:acme/pipelines/${orgId}`, 'explode');
      assert.equal(unknownAction.status, 404);
      assert.equal(unknownAction.body.code, 'ActionNotAvailable');
    });

    test('deactivated pipelines start no runs: manual 422 InvalidState, webhooks ignored, cron paused', async (t) => {
      if (skipIf(t)) return;
      const created = await dev.post('/projects/local:dev/pipelines', spec(repo.path, 'switch'));
      const url = `/projects/local:dev/pipelines/${created.body.id}`;
      const off = await dev.action(url, 'deactivate');
      assert.equal(off.status, 200, off.text);
      assert.equal(off.body.status.pipelineState, 'inactive');
      assert.equal(off.body.status.nextRunTime, undefined, 'the schedule is paused');
      assert.ok(off.body.actions.activate);
      assert.equal((await dev.action(url, 'deactivate')).body.code, 'InvalidState');

      const run = await dev.action(url, 'run', { branch: 'main' });
      assert.equal(run.status, 422, run.text);
      assert.equal(run.body.code, 'InvalidState');

      // The generic webhook, signed with its secret: the event is ignored while the pipeline is inactive.
      const hook = await sendSignedWebhook(server, off.body.status.webhookId, off.body.status.webhookToken, {
        event: 'push',
        branch: 'main',
        commit: await repo.git('rev-parse', 'HEAD'),
      });
      assert.ok(hook.status < 300, hook.text);
      assert.match(hook.text, /inactive/);
      assert.equal(
        (await dev.get(`/projects/local:dev/pipelinehistories?pipelineId=${created.body.id}`)).body.data
          .length,
        0,
      );

      const on = await dev.action(url, 'activate');
      const noBranch = await dev.action(url, 'run', { branch: 'no-such-branch' });
      assert.equal(noBranch.status, 422, noBranch.text);
      assert.equal(noBranch.body.code, 'InvalidOption');
      assert.equal(noBranch.body.fieldName, 'branch');
      assert.equal((await dev.action(url, 'run', { branch: 7 })).body.code, 'InvalidFormat');
      assert.equal(on.body.status.pipelineState, 'active');
      assert.ok(Date.parse(on.body.status.nextRunTime) > Date.now());
    });

    test("a schedule's run gets the source filled in: repository, branch and commit", async (t) => {
      if (skipIf(t)) return;
      const created = await dev.post('/projects/local:dev/pipelines', spec(repo.path, 'scheduled'));
      // What the cron worker asks for when a tick is due: a run with no commit or repository.
      const run = await server.services.rancherPipelines.startRun(created.body.id, {
        kind: 'cron',
        context: { event: 'cron', commit: '', repoUrl: '' },
      });
      const history = await dev.get(`/projects/local:dev/pipelinehistories/${run.id}`);
      assert.equal(history.status, 200, history.text);
      assert.equal(history.body.triggerType, 'cron');
      assert.equal(history.body.repositoryUrl, repo.path);
      assert.equal(history.body.branch, 'main');
      assert.equal(history.body.status.commitInfo, await repo.git('rev-parse', 'HEAD'));
      assert.equal(history.body.status.envVars.CICD_TRIGGER_TYPE, 'cron');
      assert.ok(history.body.actions.stop, 'the run waits for a scheduler');
      const stopped = await dev.action(history.body.links.self, 'stop');
      assert.equal(stopped.body.status.state, 'Abort');
      const deleted = await dev.delete(`/projects/local:dev/pipelines/${created.body.id}`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal((await dev.get(`/projects/local:dev/pipelinehistories/${run.id}`)).status, 404);
    });

    test('a pipeline as code reads .rancher-pipeline.yml from its repository; an invalid file names its line', async (t) => {
      if (skipIf(t)) return;
      const code = await createGitRepo(join(workDir, 'as-code'), {
        '.rancher-pipeline.yml':
          'stages:\n  - name: test\n    steps:\n      - runScriptConfig:\n          image: busybox:1\n          shellScript: echo from-file\n',
      });
      const created = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'as-code',
        repositoryUrl: code.path,
        triggerWebhookPush: true,
        triggerWebhookTag: true,
      });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.repositoryUrl, code.path);
      assert.equal(created.body.triggerWebhookPr, false);
      assert.ok(created.body.status.webhookId);
      const exported = await dev.action(`/projects/local:dev/pipelines/${created.body.id}`, 'export');
      assert.match(exported.text, /echo from-file/);

      // Pull request events are not among the pipeline's webhook events: the hook answers, nothing runs.
      const { webhookId, webhookToken } = created.body.status;
      const hook = await sendSignedWebhook(server, webhookId, webhookToken, {
        event: 'pull_request',
        branch: 'main',
        commit: await code.git('rev-parse', 'HEAD'),
      });
      assert.ok(hook.status < 300, hook.text);
      assert.match(hook.text, /pull_request/);
      const histories = await dev.get(`/projects/local:dev/pipelinehistories?pipelineId=${created.body.id}`);
      assert.equal(histories.body.data.length, 0);

      const broken = await createGitRepo(join(workDir, 'broken'), {
        '.rancher-pipeline.yml':
          'stages:\n  - name: test\n    steps:\n      - runScriptConfig:\n          shellScript: echo no-image\n',
      });
      const refused = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'broken',
        repositoryUrl: broken.path,
      });
      assert.equal(refused.status, 422, refused.text);
      assert.equal(refused.body.code, 'InvalidBodyContent');
      assert.match(refused.body.message, /line 4/);
      assert.match(refused.body.fieldName, /stages\[0\]\.steps\[0\]\.runScriptConfig/);

      const missingRepo = await dev.post('/projects/local:dev/pipelines', {
        displayName: 'nowhere',
        repositoryUrl: join(workDir, 'does-not-exist'),
      });
      assert.equal(missingRepo.status, 422, missingRepo.text);
      assert.equal(missingRepo.body.fieldName, 'repositoryUrl');
    });
  });
});

test('clone URLs the outbound policy forbids are refused', async (t) => {
  if (!requireTools(t, 'git')) return;
  const server = await startTestServer();
  t.after(() => server.close());
  const { client } = await rancherUser(server, 'dev');
  const local = await client.post('/projects/local:dev/pipelines', {
    displayName: 'local',
    repositoryUrl: '/tmp/x',
  });
  assert.equal(local.status, 422, local.text);
  assert.equal(local.body.fieldName, 'repositoryUrl');
  const internal = await client.post(
    '/projects/local:dev/pipelines',
    spec('http://10.1.2.3/x.git', 'internal'),
  );
  assert.equal(internal.status, 422, internal.text);
  assert.equal(internal.body.fieldName, 'stages[0].steps[0].sourceCodeStepConfig.repository');
  assert.deepEqual((await client.get('/projects/local:dev/pipelines')).body.data, []);
});
