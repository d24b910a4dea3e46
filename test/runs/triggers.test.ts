import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { hooksRoutes } from '../../src/api/runs/hooks.routes.js';
import { ManualClock } from '../../src/platform/clock.js';
import { openDatabase, type Database } from '../../src/platform/db/database.js';
import type { Kysely } from 'kysely';
import type { Clock } from '../../src/platform/clock.js';
import { NotFound } from '../../src/platform/errors.js';
import { EventBus } from '../../src/platform/events.js';
import { SecretBox } from '../../src/platform/secrets.js';
import type { TriggerContext } from '../../src/runs/model.js';
import { RunsService } from '../../src/runs/runs.service.js';
import { RunsStore } from '../../src/runs/runs.store.js';
import {
  CronWorker,
  EventTriggers,
  nextFireTime,
  TriggersService,
  TriggersStore,
  type StartRun,
  type TriggerTables,
} from '../../src/runs/triggers/index.js';
import { migrations, type Tables } from '../../src/services.js';
import {
  createPostgresDatabase,
  forEachDatabase,
  postgresAvailable,
  type TestDatabaseKind,
} from '../support/databases.js';
import { RegistryClient } from '../support/registry-client.js';
import { adminPassword, startTestServer, type TestServer } from '../support/server.js';

/**
 * A StartRun that records what it was asked for: the use case every trigger must end in. Calls name the
 * pipeline by the name `nameOf` gives its id; with `through` set, the call goes on to that (real) StartRun.
 */
interface Recorder {
  calls: { pipeline: string; kind: string; context: TriggerContext }[];
  nameOf: (id: string) => string;
  through?: StartRun;
  startRun: StartRun;
}

function recordingStartRun(): Recorder {
  const recorder: Recorder = {
    calls: [],
    nameOf: (id) => id,
    startRun: async (pipelineId, request) => {
      recorder.calls.push({
        pipeline: recorder.nameOf(pipelineId),
        kind: request.kind,
        context: request.context,
      });
      return recorder.through
        ? recorder.through(pipelineId, request)
        : { id: `run-${recorder.calls.length}` };
    },
  };
  return recorder;
}

/** A database of the given kind with every migration applied, reachable through several connections. */
async function testDatabase(kind: TestDatabaseKind) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-triggers-'));
  const pg = kind === 'postgres' ? await createPostgresDatabase() : undefined;
  const url = pg?.url ?? path.join(dir, 'slipway.db');
  const opened: Database<Tables>[] = [];
  const connect = async () => {
    const database = await openDatabase<Tables>(url, migrations);
    opened.push(database);
    return database.db;
  };
  return {
    connect,
    async close() {
      for (const database of opened) await database.close();
      await pg?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Real pipelines (triggers reference them) and a TriggersService over `db` whose runs start through `startRun`.
 * `name(id)` turns the pipeline ids a StartRun receives back into the names the tests gave.
 */
function triggersOn(db: Kysely<Tables>, clock: Clock, startRun: StartRun) {
  const runs = new RunsService(new RunsStore(db as never), new EventBus(), clock);
  const names = new Map<string, string>();
  const ids = new Map<string, string>();
  const triggers = new TriggersService({
    store: new TriggersStore(db as never),
    secrets: SecretBox.fromPassphrase('triggers-test'),
    startRun,
    clock,
    pipelineExists: (id) =>
      runs.getPipeline(id).then(
        () => true,
        (error: unknown) => (error instanceof NotFound ? false : Promise.reject(error)),
      ),
  });
  return {
    runs,
    triggers,
    /** A pipeline of one trivial job; `when` (YAML lines) restricts which triggers it accepts. */
    async pipeline(name: string, when = ''): Promise<string> {
      const source = `name: ${name}\nclone: false\n${when}stages:\n  - name: s\n    jobs:\n      j:\n        steps:\n          - script: exit 0\n`;
      const { id } = await runs.createPipeline({ namespace: 'team', source });
      names.set(id, name);
      ids.set(name, id);
      return id;
    },
    id: (name: string) => ids.get(name)!,
    name: (id: string) => names.get(id) ?? id,
  };
}

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');
const hmac = (secret: string, body: string | Buffer) =>
  createHmac('sha256', secret).update(body).digest('hex');

forEachDatabase((database) => {
  describe(`webhook triggers on ${database}`, { concurrency: false }, () => {
    let skip = false;
    let db: Awaited<ReturnType<typeof testDatabase>>;
    let app: FastifyInstance;
    let url: string;
    let triggers: TriggersService;
    let fixture: ReturnType<typeof triggersOn>;
    let pipelineId: string;
    const recorder = recordingStartRun();
    const hooks: Record<string, { id: string; secret: string }> = {};

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      db = await testDatabase(database);
      fixture = triggersOn(await db.connect(), new ManualClock(), recorder.startRun);
      recorder.nameOf = fixture.name;
      triggers = fixture.triggers;
      pipelineId = await fixture.pipeline('app');
      for (const provider of ['github', 'gitlab', 'bitbucket', 'gitea', 'generic']) {
        const created = await triggers.createWebhook(pipelineId, provider);
        hooks[provider] = { id: created.id, secret: created.secret! };
      }
      app = Fastify({ logger: false });
      await app.register(hooksRoutes, { triggers, prefix: '/api/slipway/v1' });
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app?.close();
      await db?.close();
    });

    const ready = (t: TestContext) => {
      if (skip) t.skip('PostgreSQL not reachable');
      recorder.calls.length = 0;
      return !skip;
    };

    /** POSTs `body` to the hook of `provider` as the provider would, signed with its secret unless `sign` says otherwise. */
    const send = async (
      provider: string,
      headers: Record<string, string>,
      body: string,
      triggerId = hooks[provider]!.id,
    ) => {
      const res = await fetch(`${url}/api/slipway/v1/hooks/${triggerId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const github = (event: string, payload: unknown, secret = hooks.github!.secret) => {
      const body = JSON.stringify(payload);
      return send(
        'github',
        {
          'x-github-event': event,
          'x-github-delivery': crypto.randomUUID(),
          'x-hub-signature-256': `sha256=${hmac(secret, body)}`,
          'user-agent': 'GitHub-Hookshot/test',
        },
        body,
      );
    };
    const gitlab = (event: string, payload: unknown, token = hooks.gitlab!.secret) =>
      send('gitlab', { 'x-gitlab-event': event, 'x-gitlab-token': token }, JSON.stringify(payload));
    const bitbucket = (
      event: string,
      payload: unknown,
      secret = hooks.bitbucket!.secret,
      triggerId?: string,
    ) => {
      const body = JSON.stringify(payload);
      return send(
        'bitbucket',
        {
          'x-event-key': event,
          'x-hub-signature': `sha256=${hmac(secret, body)}`,
          'x-request-uuid': crypto.randomUUID(),
        },
        body,
        triggerId,
      );
    };
    const gitea = (event: string, payload: unknown, secret = hooks.gitea!.secret) => {
      const body = JSON.stringify(payload);
      return send('gitea', { 'x-gitea-event': event, 'x-gitea-signature': hmac(secret, body) }, body);
    };
    const generic = (payload: unknown, secret = hooks.generic!.secret) => {
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      return send('generic', { 'x-slipway-signature': `sha256=${hmac(secret, body)}` }, body);
    };

    const githubPush = (ref: string, extra: Record<string, unknown> = {}) => ({
      ref,
      before: sha('before'),
      after: sha('after'),
      created: false,
      deleted: false,
      forced: false,
      repository: { full_name: 'team/app', clone_url: 'https://github.com/team/app.git' },
      head_commit: { id: sha('after'), message: 'change', added: [], removed: [], modified: ['README.md'] },
      commits: [
        { id: sha('c1'), added: ['src/new.ts'], removed: ['old.txt'], modified: ['README.md'] },
        { id: sha('after'), added: [], removed: [], modified: ['README.md', 'src/app.ts'] },
      ],
      ...extra,
    });

    test('GitHub: signed push, tag and pull request start runs with their contexts', async (t) => {
      if (!ready(t)) return;
      const push = await github('push', githubPush('refs/heads/main'));
      assert.equal(push.status, 202);
      assert.deepEqual(push.json, { run_id: 'run-1', run_ids: ['run-1'] });
      assert.deepEqual(recorder.calls[0], {
        pipeline: 'app',
        kind: 'webhook',
        context: {
          event: 'push',
          branch: 'main',
          commit: sha('after'),
          ref: 'refs/heads/main',
          repoUrl: 'https://github.com/team/app.git',
          changedFiles: ['README.md', 'old.txt', 'src/app.ts', 'src/new.ts'],
        },
      });

      // An annotated tag: `after` is the tag object, `head_commit` the commit; no commit list.
      const tag = await github(
        'push',
        githubPush('refs/tags/v1.2.0', { after: sha('tag-object'), commits: [], base_ref: null }),
      );
      assert.equal(tag.status, 202);
      assert.deepEqual(recorder.calls[1]!.context, {
        event: 'tag',
        tag: 'v1.2.0',
        commit: sha('after'),
        ref: 'refs/tags/v1.2.0',
        repoUrl: 'https://github.com/team/app.git',
      });

      const pr = {
        action: 'synchronize',
        number: 7,
        pull_request: {
          number: 7,
          head: { ref: 'feature', sha: sha('head') },
          base: { ref: 'main', sha: sha('base') },
        },
        repository: { clone_url: 'https://github.com/team/app.git' },
      };
      assert.equal((await github('pull_request', pr)).status, 202);
      assert.deepEqual(recorder.calls[2]!.context, {
        event: 'pull_request',
        branch: 'main',
        commit: sha('head'),
        ref: 'refs/pull/7/head',
        repoUrl: 'https://github.com/team/app.git',
      });

      // GitHub's form content type: the JSON is the `payload` field; the signature covers the encoded body.
      const form = new URLSearchParams({ payload: JSON.stringify(githubPush('refs/heads/dev')) }).toString();
      const res = await send(
        'github',
        {
          'content-type': 'application/x-www-form-urlencoded',
          'x-github-event': 'push',
          'x-hub-signature-256': `sha256=${hmac(hooks.github!.secret, form)}`,
        },
        form,
      );
      assert.equal(res.status, 202);
      assert.equal(recorder.calls[3]!.context.branch, 'dev');
    });

    test('GitHub: ping, deleted branches and closed pull requests are ignored', async (t) => {
      if (!ready(t)) return;
      const ping = await github('ping', { zen: 'Design for failure.', hook_id: 1 });
      assert.deepEqual(ping, { status: 200, json: { ignored: 'ping' } });
      const deleted = await github(
        'push',
        githubPush('refs/heads/old', { deleted: true, after: '0'.repeat(40), head_commit: null }),
      );
      assert.equal(deleted.status, 200);
      assert.match(deleted.json.ignored, /refs\/heads\/old was deleted/);
      const closed = await github('pull_request', { action: 'closed', number: 7 });
      assert.equal(closed.status, 200);
      assert.match(closed.json.ignored, /closed/);
      assert.equal((await github('issues', { action: 'opened' })).status, 200);
      assert.equal(recorder.calls.length, 0);
    });

    test("a forged, missing or other trigger's signature is 401 and starts nothing", async (t) => {
      if (!ready(t)) return;
      const payload = githubPush('refs/heads/main');
      assert.equal((await github('push', payload, 'not-the-secret')).status, 401);
      // Signed with another trigger's secret.
      assert.equal((await github('push', payload, hooks.generic!.secret)).status, 401);
      const body = JSON.stringify(payload);
      const missing = await send('github', { 'x-github-event': 'push' }, body);
      assert.equal(missing.status, 401);
      assert.equal(missing.json.error.code, 'WEBHOOK_SIGNATURE_INVALID');
      // The body changed after signing.
      const tampered = await send(
        'github',
        {
          'x-github-event': 'push',
          'x-hub-signature-256': `sha256=${hmac(hooks.github!.secret, body)}`,
        },
        body.replace('main', 'prod'),
      );
      assert.equal(tampered.status, 401);
      // The SHA-1 header alone is not accepted.
      const sha1 = await send(
        'github',
        {
          'x-github-event': 'push',
          'x-hub-signature': `sha1=${createHmac('sha1', hooks.github!.secret).update(body).digest('hex')}`,
        },
        body,
      );
      assert.equal(sha1.status, 401);
      assert.equal((await gitlab('Push Hook', {}, 'wrong-token')).status, 401);
      assert.equal((await bitbucket('repo:push', {}, 'wrong')).status, 401);
      assert.equal((await gitea('push', {}, 'wrong')).status, 401);
      assert.equal((await generic({ event: 'push', branch: 'main', commit: sha('x') }, 'wrong')).status, 401);
      // A bad signature is refused before the body is read: malformed JSON is still a 401.
      assert.equal((await send('generic', { 'x-slipway-signature': 'sha256=00' }, '{not json')).status, 401);
      assert.equal(recorder.calls.length, 0);
    });

    test('malformed payloads are 400 naming the field', async (t) => {
      if (!ready(t)) return;
      const notJson = await generic('{"event": "push",');
      assert.equal(notJson.status, 400);
      assert.equal(notJson.json.error.field, 'body');
      const noAfter = await github('push', { ...githubPush('refs/heads/main'), after: undefined });
      assert.equal(noAfter.status, 400);
      assert.equal(noAfter.json.error.code, 'WEBHOOK_PAYLOAD_INVALID');
      assert.equal(noAfter.json.error.field, 'after');
      assert.match(noAfter.json.error.message, /"after"/);
      const badRef = await github('push', githubPush('refs/notes/x'));
      assert.equal(badRef.json.error.field, 'ref');
      const prWithoutHead = await github('pull_request', {
        action: 'opened',
        number: 1,
        pull_request: { number: 1, base: { ref: 'main' } },
        repository: { clone_url: 'x' },
      });
      assert.equal(prWithoutHead.status, 400);
      assert.equal(prWithoutHead.json.error.field, 'pull_request.head.sha');
      const noEvent = await send(
        'github',
        { 'x-hub-signature-256': `sha256=${hmac(hooks.github!.secret, '{}')}` },
        '{}',
      );
      assert.equal(noEvent.status, 400);
      assert.equal(noEvent.json.error.field, 'X-GitHub-Event');
      const noCommit = await generic({ event: 'push', branch: 'main' });
      assert.equal(noCommit.json.error.field, 'commit');
      const badFiles = await generic({
        event: 'push',
        branch: 'main',
        commit: sha('x'),
        changed_files: 'a.txt',
      });
      assert.equal(badFiles.json.error.field, 'changed_files');
      const tagWithoutName = await generic({ event: 'tag', commit: sha('x') });
      assert.equal(tagWithoutName.json.error.field, 'tag');
      const badChange = await bitbucket('repo:push', {
        repository: { links: { html: { href: 'https://bitbucket.org/team/app' } } },
        push: { changes: [{ new: { type: 'branch', name: 'main', target: {} } }] },
      });
      assert.equal(badChange.json.error.field, 'push.changes.0.new.target.hash');
      assert.equal(recorder.calls.length, 0);
    });

    test('GitLab: token, push, tag push and merge requests', async (t) => {
      if (!ready(t)) return;
      const project = {
        path_with_namespace: 'team/app',
        git_http_url: 'https://gitlab.example.com/team/app.git',
      };
      const push = {
        object_kind: 'push',
        ref: 'refs/heads/main',
        before: sha('b'),
        after: sha('a'),
        checkout_sha: sha('a'),
        project,
        commits: [{ id: sha('a'), added: ['x.go'], modified: [], removed: ['y.go'] }],
        total_commits_count: 1,
      };
      assert.equal((await gitlab('Push Hook', push)).status, 202);
      assert.deepEqual(recorder.calls[0]!.context, {
        event: 'push',
        branch: 'main',
        commit: sha('a'),
        ref: 'refs/heads/main',
        repoUrl: project.git_http_url,
        changedFiles: ['x.go', 'y.go'],
      });
      // More commits than GitLab lists: the changed files are unknown.
      await gitlab('Push Hook', { ...push, total_commits_count: 40 });
      assert.equal(recorder.calls[1]!.context.changedFiles, undefined);
      const tag = {
        ...push,
        object_kind: 'tag_push',
        ref: 'refs/tags/v2',
        after: sha('tag-object'),
        commits: [],
      };
      assert.equal((await gitlab('Tag Push Hook', tag)).status, 202);
      assert.deepEqual(recorder.calls[2]!.context, {
        event: 'tag',
        tag: 'v2',
        commit: sha('a'),
        ref: 'refs/tags/v2',
        repoUrl: project.git_http_url,
      });
      const mr = (action: string, extra: Record<string, unknown> = {}) => ({
        object_kind: 'merge_request',
        project,
        object_attributes: {
          iid: 12,
          action,
          source_branch: 'feature',
          target_branch: 'main',
          last_commit: { id: sha('mr') },
          ...extra,
        },
      });
      assert.equal((await gitlab('Merge Request Hook', mr('open'))).status, 202);
      assert.deepEqual(recorder.calls[3]!.context, {
        event: 'pull_request',
        branch: 'main',
        commit: sha('mr'),
        ref: 'refs/merge-requests/12/head',
        repoUrl: project.git_http_url,
      });
      assert.equal((await gitlab('Merge Request Hook', mr('update', { oldrev: sha('old') }))).status, 202);
      const edited = await gitlab('Merge Request Hook', mr('update'));
      assert.equal(edited.status, 200);
      assert.match(edited.json.ignored, /update/);
      const deleted = await gitlab('Push Hook', { ...push, after: '0'.repeat(40), checkout_sha: null });
      assert.equal(deleted.status, 200);
      assert.equal(recorder.calls.length, 5);
    });

    test('Bitbucket Cloud: every pushed ref of a push, pull requests, and hooks without a secret', async (t) => {
      if (!ready(t)) return;
      const repository = {
        full_name: 'team/app',
        links: { html: { href: 'https://bitbucket.org/team/app' } },
      };
      const change = (type: string, name: string, hash: string | null) => ({
        new: hash ? { type, name, target: { type: 'commit', hash } } : null,
        old: null,
        created: hash !== null,
        closed: hash === null,
      });
      const push = {
        repository,
        push: {
          changes: [
            change('branch', 'main', sha('m')),
            change('branch', 'gone', null),
            change('tag', 'v3', sha('t')),
          ],
        },
      };
      const res = await bitbucket('repo:push', push);
      assert.equal(res.status, 202);
      assert.deepEqual(res.json, { run_id: 'run-1', run_ids: ['run-1', 'run-2'] });
      assert.deepEqual(
        recorder.calls.map((c) => c.context),
        [
          {
            event: 'push',
            branch: 'main',
            commit: sha('m'),
            ref: 'refs/heads/main',
            repoUrl: 'https://bitbucket.org/team/app.git',
          },
          {
            event: 'tag',
            tag: 'v3',
            commit: sha('t'),
            ref: 'refs/tags/v3',
            repoUrl: 'https://bitbucket.org/team/app.git',
          },
        ],
      );
      const onlyDeleted = await bitbucket('repo:push', {
        repository,
        push: { changes: [change('branch', 'gone', null)] },
      });
      assert.equal(onlyDeleted.status, 200);
      const pr = {
        repository,
        pullrequest: {
          id: 3,
          source: {
            branch: { name: 'feature' },
            commit: { hash: sha('pr') },
            repository: {
              full_name: 'fork/app',
              links: { html: { href: 'https://bitbucket.org/fork/app' } },
            },
          },
          destination: { branch: { name: 'main' }, commit: { hash: sha('main') }, repository },
        },
      };
      assert.equal((await bitbucket('pullrequest:updated', pr)).status, 202);
      assert.deepEqual(recorder.calls[2]!.context, {
        event: 'pull_request',
        branch: 'main',
        commit: sha('pr'),
        ref: 'refs/heads/feature',
        repoUrl: 'https://bitbucket.org/fork/app.git',
      });
      assert.equal((await bitbucket('pullrequest:fulfilled', pr)).status, 200);

      // A Bitbucket hook created without a secret takes unsigned requests; the others never do.
      const unsigned = await triggers.createWebhook(pipelineId, 'bitbucket', { secret: null });
      assert.equal(unsigned.signed, false);
      const plain = await send(
        'bitbucket',
        { 'x-event-key': 'repo:push' },
        JSON.stringify(push),
        unsigned.id,
      );
      assert.equal(plain.status, 202);
      await assert.rejects(triggers.createWebhook(pipelineId, 'github', { secret: null }), {
        code: 'TRIGGER_INVALID',
      });
    });

    test('Gitea: signed push with changed files, pull request, create ignored', async (t) => {
      if (!ready(t)) return;
      const repository = { full_name: 'team/app', clone_url: 'https://gitea.example.com/team/app.git' };
      const push = {
        ref: 'refs/heads/main',
        before: sha('b'),
        after: sha('g'),
        repository,
        head_commit: { id: sha('g'), added: [], removed: [], modified: ['go.mod'] },
        commits: [{ id: sha('g'), added: ['cmd/main.go'], removed: [], modified: ['go.mod'] }],
      };
      assert.equal((await gitea('push', push)).status, 202);
      assert.deepEqual(recorder.calls[0]!.context, {
        event: 'push',
        branch: 'main',
        commit: sha('g'),
        ref: 'refs/heads/main',
        repoUrl: repository.clone_url,
        changedFiles: ['cmd/main.go', 'go.mod'],
      });
      assert.equal((await gitea('push', { ...push, ref: 'refs/tags/v1', commits: [] })).status, 202);
      assert.equal(recorder.calls[1]!.context.event, 'tag');
      assert.equal(recorder.calls[1]!.context.tag, 'v1');
      const create = await gitea('create', { ref: 'v1', ref_type: 'tag', sha: sha('g'), repository });
      assert.equal(create.status, 200);
      const pr = {
        action: 'synchronized',
        number: 4,
        pull_request: { number: 4, head: { ref: 'fix', sha: sha('fix') }, base: { ref: 'main' } },
        repository,
      };
      assert.equal((await gitea('pull_request', pr)).status, 202);
      assert.deepEqual(recorder.calls[2]!.context, {
        event: 'pull_request',
        branch: 'main',
        commit: sha('fix'),
        ref: 'refs/pull/4/head',
        repoUrl: repository.clone_url,
      });
      const deleted = await gitea('push', { ...push, after: '0'.repeat(40), head_commit: null, commits: [] });
      assert.equal(deleted.status, 200);
      assert.equal(recorder.calls.length, 3);
    });

    test('generic hook: push with changed files, tag, repository URL optional', async (t) => {
      if (!ready(t)) return;
      const res = await generic({
        event: 'push',
        branch: 'main',
        commit: sha('gen'),
        repo_url: 'https://git.example.com/app.git',
        changed_files: ['b.txt', 'a.txt', 'b.txt'],
      });
      assert.equal(res.status, 202);
      assert.deepEqual(recorder.calls[0]!.context, {
        event: 'push',
        branch: 'main',
        commit: sha('gen'),
        repoUrl: 'https://git.example.com/app.git',
        changedFiles: ['a.txt', 'b.txt'],
      });
      assert.equal((await generic({ event: 'tag', tag: 'v9', commit: sha('gen') })).status, 202);
      assert.deepEqual(recorder.calls[1]!.context, {
        event: 'tag',
        tag: 'v9',
        commit: sha('gen'),
        repoUrl: '',
      });
      assert.equal((await generic({ event: 'deploy', commit: sha('gen') })).json.error.field, 'event');

      // The signature covers the bytes as sent, whatever the content type says, or when there is none.
      const body = JSON.stringify({ event: 'push', branch: 'raw', commit: sha('raw') });
      const signature = `sha256=${hmac(hooks.generic!.secret, body)}`;
      for (const contentType of [
        'text/plain',
        'application/octet-stream',
        'application/json; charset=utf-8',
      ]) {
        const res = await send(
          'generic',
          { 'content-type': contentType, 'x-slipway-signature': signature },
          body,
        );
        assert.equal(res.status, 202, contentType);
      }
      const bare = await fetch(`${url}/api/slipway/v1/hooks/${hooks.generic!.id}`, {
        method: 'POST',
        headers: { 'x-slipway-signature': signature },
        body: new TextEncoder().encode(body),
      });
      assert.equal(bare.status, 202);
      assert.equal(recorder.calls.length, 6);
    });

    test('through the real startRun: a run is stored, and an event the pipeline turns down is ignored', async (t) => {
      if (!ready(t)) return;
      const gated = await fixture.pipeline('gated', 'when:\n  branch: [main]\n');
      const hook = await triggers.createWebhook(gated, 'generic');
      const sendSigned = (payload: unknown) => {
        const body = JSON.stringify(payload);
        return send(
          'generic',
          { 'x-slipway-signature': `sha256=${hmac(hook.secret!, body)}` },
          body,
          hook.id,
        );
      };
      recorder.through = (id, request) => fixture.runs.startRun(id, request);
      try {
        const main = await sendSigned({
          event: 'push',
          branch: 'main',
          commit: sha('real'),
          repo_url: 'https://git.example.com/app.git',
        });
        assert.equal(main.status, 202);
        const run = await fixture.runs.getRun(main.json.run_id);
        assert.equal(run.pipelineId, gated);
        assert.equal(run.trigger.kind, 'webhook');
        assert.deepEqual(run.trigger.context, {
          event: 'push',
          branch: 'main',
          commit: sha('real'),
          repoUrl: 'https://git.example.com/app.git',
        });
        const dev = await sendSigned({ event: 'push', branch: 'dev', commit: sha('real') });
        assert.equal(dev.status, 200);
        assert.match(dev.json.ignored, /does not run/);
        assert.equal((await fixture.runs.listRuns(gated)).length, 1);
      } finally {
        recorder.through = undefined;
      }
    });

    test('an unknown trigger id is 404 and a secret is stored sealed', async (t) => {
      if (!ready(t)) return;
      const body = JSON.stringify({ event: 'push', branch: 'main', commit: sha('x') });
      const res = await send(
        'generic',
        { 'x-slipway-signature': `sha256=${hmac(hooks.generic!.secret, body)}` },
        body,
        crypto.randomUUID(),
      );
      assert.equal(res.status, 404);
      assert.equal(res.json.error.code, 'TRIGGER_NOT_FOUND');
      const rows = await ((await db.connect()) as unknown as import('kysely').Kysely<TriggerTables>)
        .selectFrom('webhook_triggers')
        .select('secret_sealed')
        .execute();
      for (const row of rows)
        assert.ok(
          row.secret_sealed === null ||
            !Object.values(hooks).some((h) => row.secret_sealed!.includes(h.secret)),
        );
      assert.equal(await triggers.webhookSecret(pipelineId, hooks.gitea!.id), hooks.gitea!.secret);
      assert.equal(recorder.calls.length, 0);
    });
  });

  describe(`cron triggers on ${database}`, { concurrency: false }, () => {
    let skip = false;
    let db: Awaited<ReturnType<typeof testDatabase>>;
    const clock = new ManualClock(Date.parse('2026-01-15T07:30:00Z'));
    const recorder = recordingStartRun();
    let triggers: TriggersService;
    let fixture: ReturnType<typeof triggersOn>;
    let workers: CronWorker[];
    /** Every claim of a tick the workers tried, and whether it won. */
    const claims: boolean[] = [];
    class ObservedStore extends TriggersStore {
      override async claimCronTick(id: string, expected: number, next: number | null): Promise<boolean> {
        const won = await super.claimCronTick(id, expected, next);
        claims.push(won);
        return won;
      }
    }

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      db = await testDatabase(database);
      // Two replicas: each its own connection (pool) to the one database.
      const stores = [
        new ObservedStore((await db.connect()) as never),
        new ObservedStore((await db.connect()) as never),
      ];
      fixture = triggersOn(await db.connect(), clock, recorder.startRun);
      recorder.nameOf = fixture.name;
      triggers = fixture.triggers;
      for (const name of ['nightly-berlin', 'nightly-utc', 'every-5', 'disabled'])
        await fixture.pipeline(name);
      workers = stores.map((store) => new CronWorker(store, recorder.startRun, clock));
    });
    after(() => db?.close());

    /** Both workers fire at the same time, as two replicas would. */
    const race = async () => (await Promise.all(workers.map((w) => w.fireDue()))).flat();

    test('a schedule is read in its time zone and each tick fires once across racing workers', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const berlin = await triggers.createCron(fixture.id('nightly-berlin'), {
        schedule: '0 9 * * *',
        timezone: 'Europe/Berlin',
        branch: 'main',
      });
      const utc = await triggers.createCron(fixture.id('nightly-utc'), { schedule: '0 9 * * *' });
      assert.equal(berlin.nextFireAt, Date.parse('2026-01-15T08:00:00Z'));
      assert.equal(utc.nextFireAt, Date.parse('2026-01-15T09:00:00Z'));
      assert.equal(utc.timezone, 'UTC');

      assert.deepEqual(await race(), []);
      clock.advance(30 * 60_000); // 08:00Z = 09:00 in Berlin
      assert.equal((await race()).length, 1);
      // Both workers saw the tick due and tried to claim it; one won.
      assert.deepEqual([...claims].sort(), [false, true]);
      assert.deepEqual(recorder.calls, [
        {
          pipeline: 'nightly-berlin',
          kind: 'cron',
          context: { event: 'cron', commit: '', repoUrl: '', branch: 'main' },
        },
      ]);
      assert.deepEqual(await race(), []);
      clock.advance(60 * 60_000); // 09:00Z
      assert.equal((await race()).length, 1);
      assert.equal(recorder.calls[1]!.pipeline, 'nightly-utc');
      assert.equal(recorder.calls[1]!.context.branch, undefined);

      // A week of ticks, every one raced by both workers: one run per schedule per day.
      for (let day = 0; day < 7; day++) {
        clock.advance(23 * 3600_000);
        await race();
        clock.advance(3600_000);
        await race();
      }
      const count = (id: string) => recorder.calls.filter((c) => c.pipeline === id).length;
      assert.equal(count('nightly-berlin'), 8);
      assert.equal(count('nightly-utc'), 8);
    });

    test('missed ticks fire once, disabled schedules never, and summer time moves the UTC instant', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      recorder.calls.length = 0;
      const every = await triggers.createCron(fixture.id('every-5'), {
        schedule: '*/5 * * * *',
        timezone: 'Europe/Berlin',
      });
      const off = await triggers.createCron(fixture.id('disabled'), {
        schedule: '* * * * *',
        enabled: false,
      });
      assert.equal(off.nextFireAt, null);
      clock.advance(3 * 3600_000); // 36 ticks missed
      await race();
      assert.equal(recorder.calls.filter((c) => c.pipeline === 'every-5').length, 1);
      assert.equal(recorder.calls.filter((c) => c.pipeline === 'disabled').length, 0);
      const [after] = (await triggers.list(fixture.id('every-5'))).crons;
      assert.ok(after!.nextFireAt! > clock.now() && after!.nextFireAt! <= clock.now() + 5 * 60_000);
      const paused = await triggers.updateCron(fixture.id('every-5'), every.id, { enabled: false });
      assert.equal(paused.nextFireAt, null);
      clock.advance(3600_000);
      await race();
      assert.equal(recorder.calls.filter((c) => c.pipeline === 'every-5').length, 1);

      assert.equal(
        nextFireTime('0 9 * * *', 'Europe/Berlin', Date.parse('2026-07-15T06:00:00Z')),
        Date.parse('2026-07-15T07:00:00Z'),
      );
      // 02:30 does not exist in Berlin on the night clocks go forward: the tick is the first instant after the gap.
      assert.equal(
        nextFireTime('30 2 * * *', 'Europe/Berlin', Date.parse('2026-03-28T12:00:00Z')),
        Date.parse('2026-03-29T01:00:00Z'),
      );
      await assert.rejects(
        triggers.createCron(fixture.id('every-5'), { schedule: '0 9 * * *', timezone: 'Mars/Olympus' }),
        {
          code: 'CRON_INVALID',
          detail: { field: 'timezone' },
        },
      );
      await assert.rejects(triggers.createCron(fixture.id('every-5'), { schedule: '61 * * * *' }), {
        code: 'CRON_INVALID',
        detail: { field: 'schedule' },
      });
    });
  });

  describe(`image and pipeline-end triggers on ${database}`, { concurrency: false }, () => {
    let skip = false;
    let server: TestServer;
    let client: RegistryClient;
    let fixture: ReturnType<typeof triggersOn>;
    let triggers: TriggersService;
    let eventTriggers: EventTriggers;
    const recorder = recordingStartRun();
    // Only manual runs pass these pipelines' own conditions: the server's own triggers, which start real runs,
    // are turned down, while the recording StartRun below sees every trigger.
    const manualOnly = 'when:\n  event: [manual]\n';

    before(async () => {
      if (database === 'postgres' && !(await postgresAvailable())) {
        skip = true;
        return;
      }
      server = await startTestServer({ database });
      client = new RegistryClient(server.url, { username: 'admin', password: adminPassword });
      fixture = triggersOn(server.db, new ManualClock(), recorder.startRun);
      recorder.nameOf = fixture.name;
      triggers = fixture.triggers;
      for (const name of ['deploy-app', 'scan-all', 'build', 'deploy', 'report', 'announce'])
        await fixture.pipeline(name, manualOnly);
      eventTriggers = new EventTriggers(new TriggersStore(server.db as never), recorder.startRun);
      eventTriggers.listen(server.services.events);
    });
    after(() => server?.close());

    const push = async (repository: string, reference: string) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: reference }));
      const layer = Buffer.from(`layer of ${repository}:${reference}`);
      const manifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: await client.pushBlob(repository, config),
          size: config.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: await client.pushBlob(repository, layer),
            size: layer.length,
          },
        ],
      };
      const res = await client.pushManifest(repository, reference, manifest);
      assert.equal(res.status, 201, res.body.toString());
      await eventTriggers.settle();
      return res.headers.get('docker-content-digest')!;
    };
    const started = () => recorder.calls.map((c) => c.pipeline).sort();

    test('a manifest pushed under a matching tag starts a run; other tags, repositories and digests do not', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      await triggers.createImageTrigger(fixture.id('deploy-app'), { repository: 'admin/app', tagGlob: 'v*' });
      await triggers.createImageTrigger(fixture.id('scan-all'), { repository: 'admin/app', tagGlob: '*' });
      await push('admin/app', 'v1.2.0');
      assert.deepEqual(started(), ['deploy-app', 'scan-all']);
      assert.deepEqual(recorder.calls[0]!.context, { event: 'image', commit: '', repoUrl: '' });
      assert.equal(recorder.calls[0]!.kind, 'image');
      recorder.calls.length = 0;
      await push('admin/app', 'latest');
      assert.deepEqual(started(), ['scan-all']);
      recorder.calls.length = 0;
      await push('admin/other', 'v1.2.0');
      const digest = await push('admin/app', 'build-cache');
      assert.deepEqual(started(), ['scan-all']);
      recorder.calls.length = 0;
      // By digest: no tag, no run.
      const manifest = await client.request('GET', `/v2/admin/app/manifests/${digest}`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal((await client.pushManifest('admin/app', digest, manifest.body.toString())).status, 201);
      await eventTriggers.settle();
      assert.equal(recorder.calls.length, 0);
      const id = fixture.id('scan-all');
      await assert.rejects(triggers.createImageTrigger(id, { repository: 'Bad Name', tagGlob: '*' }), {
        detail: { field: 'repository' },
      });
      await assert.rejects(triggers.createImageTrigger(id, { repository: 'admin/app', tagGlob: '[' }), {
        detail: { field: 'tagGlob' },
      });
      await assert.rejects(
        triggers.createImageTrigger('no-such-pipeline', { repository: 'admin/app', tagGlob: '*' }),
        {
          code: 'PIPELINE_NOT_FOUND',
        },
      );
    });

    test("the server's hooks endpoint verifies and starts a real run", async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      const { runs, triggers: wired } = server.services;
      const pipeline = await runs.createPipeline({
        namespace: 'team',
        source:
          'name: served\nclone: false\nstages:\n  - name: s\n    jobs:\n      j:\n        steps:\n          - script: exit 0\n',
      });
      const hook = await wired.createWebhook(pipeline.id, 'gitlab');
      const body = JSON.stringify({
        ref: 'refs/tags/v1',
        after: sha('served'),
        checkout_sha: sha('served'),
        project: { git_http_url: 'https://gitlab.example.com/team/served.git' },
      });
      const post = (token: string) =>
        fetch(`${server.url}/api/slipway/v1/hooks/${hook.id}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-gitlab-event': 'Tag Push Hook',
            'x-gitlab-token': token,
          },
          body,
        });
      const forged = await post('guess');
      assert.equal(forged.status, 401);
      assert.deepEqual(await runs.listRuns(pipeline.id), []);
      const res = await post(hook.secret!);
      assert.equal(res.status, 202);
      const { run_id } = (await res.json()) as { run_id: string };
      const run = await runs.getRun(run_id);
      assert.deepEqual(run.trigger.context, {
        event: 'tag',
        tag: 'v1',
        commit: sha('served'),
        ref: 'refs/tags/v1',
        repoUrl: 'https://gitlab.example.com/team/served.git',
      });
      assert.equal(
        (await fetch(`${server.url}/api/slipway/v1/hooks/${crypto.randomUUID()}`, { method: 'POST', body }))
          .status,
        404,
      );
    });

    test('the end of a run starts the pipelines that follow it in that state; loops are refused', async (t) => {
      if (skip) return t.skip('PostgreSQL not reachable');
      recorder.calls.length = 0;
      const bus = new EventBus();
      const local = new EventTriggers(new TriggersStore(server.db as never), recorder.startRun);
      local.listen(bus);
      const id = fixture.id;
      await triggers.createPipelineTrigger(id('deploy'), { upstreamPipelineId: id('build') });
      await triggers.createPipelineTrigger(id('report'), {
        upstreamPipelineId: id('build'),
        states: ['failed', 'error'],
      });
      await triggers.createPipelineTrigger(id('announce'), { upstreamPipelineId: id('deploy') });
      const finished = (pipeline: string, state: string) =>
        bus.emit({
          type: 'run.finished',
          runId: `r-${pipeline}`,
          pipelineId: id(pipeline),
          namespace: 'team',
          pipeline,
          number: 1,
          state,
          trigger: 'manual',
        });
      finished('build', 'success');
      await local.settle();
      assert.deepEqual(recorder.calls, [
        { pipeline: 'deploy', kind: 'pipeline', context: { event: 'pipeline', commit: '', repoUrl: '' } },
      ]);
      finished('build', 'failed');
      finished('deploy', 'cancelled');
      await local.settle();
      assert.deepEqual(started(), ['deploy', 'report']);

      await assert.rejects(
        triggers.createPipelineTrigger(id('build'), { upstreamPipelineId: id('announce') }),
        {
          code: 'TRIGGER_LOOP',
        },
      );
      await assert.rejects(triggers.createPipelineTrigger(id('build'), { upstreamPipelineId: id('build') }), {
        code: 'TRIGGER_LOOP',
      });
      await assert.rejects(
        triggers.createPipelineTrigger(id('deploy'), {
          upstreamPipelineId: id('build'),
          states: ['running'],
        }),
        { code: 'TRIGGER_INVALID' },
      );
      assert.deepEqual(
        (await triggers.list(id('report'))).pipelines.map((p) => p.states),
        [['failed', 'error']],
      );
      // Triggers go with their pipeline, at either end.
      await fixture.runs.deletePipeline(id('build'));
      assert.deepEqual((await triggers.list(id('deploy'))).pipelines, []);
      assert.deepEqual((await triggers.list(id('report'))).pipelines, []);
      assert.equal((await triggers.list(id('announce'))).pipelines.length, 1);
    });
  });
});
