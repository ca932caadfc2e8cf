#!/usr/bin/env node
// Example client of the Triverse gRPC gateway in Node.js (CommonJS, Node >= 16):
// health, reflection, CreateTask, WatchTask with a resume, DownloadAsset, and
// the rich error details of a bad request.
//
// Usage: node example.js [--target HOST:PORT] [--out DIR] [--service-config PATH]
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const ROOT = path.resolve(__dirname, '../../..');
const INCLUDE_DIRS = [path.join(ROOT, 'proto'), path.join(ROOT, 'third_party')];

// --name value or --name=value; anything else is an error.
function parseFlags(argv) {
  const flags = {
    target: 'localhost:50051',
    out: '.',
    'service-config': path.join(ROOT, 'client/service_config.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in flags)) throw new Error(`unknown argument ${argv[i]}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    flags[m[1]] = value;
  }
  return flags;
}

// The .proto files under DIR, relative to BASE (as imports spell them).
function protoFiles(base, dir) {
  return fs.readdirSync(path.join(base, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return protoFiles(base, rel);
    return e.name.endsWith('.proto') ? [rel] : [];
  });
}

// Loads the contract at run time. Field names stay as in the .proto files,
// enums are names, 64-bit ints strings, unset fields get their defaults, and
// a virtual field names the set oneof member; gen.sh generates TypeScript
// types with the same options. google/protobuf/* come from protobufjs's
// bundled well-known types. Returns the gRPC stubs' namespaces (`api`) and
// the google.rpc error model as protobufjs types (`rpcTypes`), to decode
// grpc-status-details-bin.
function loadProtos() {
  const packageDefinition = protoLoader.loadSync([
    ...protoFiles(INCLUDE_DIRS[0], 'triverse/v1'),
    ...protoFiles(INCLUDE_DIRS[1], 'google/rpc'),
    ...protoFiles(INCLUDE_DIRS[1], 'grpc'),
  ], {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    includeDirs: INCLUDE_DIRS,
  });
  const rpcTypes = new protobuf.Root();
  rpcTypes.resolvePath = (origin, target) => path.join(INCLUDE_DIRS[1], target);
  rpcTypes.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'],
    { keepCase: true });
  return { api: grpc.loadPackageDefinition(packageDefinition), rpcTypes };
}

// Promisifies a unary call: unary(client, 'Method', request).
function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Health of the whole server ("") and of TaskService. A service the health
// service does not know answers NOT_FOUND: printed as SERVICE_UNKNOWN.
async function checkHealth(health) {
  for (const service of ['', 'triverse.v1.TaskService']) {
    let status;
    try {
      ({ status } = await unary(health, 'Check', { service }));
    } catch (error) {
      if (error.code !== grpc.status.NOT_FOUND) throw error;
      status = 'SERVICE_UNKNOWN';
      console.error(`example: the health service does not know "${service}" (NOT_FOUND)`);
    }
    console.log(`health: ${service || 'server'} ${status}`);
  }
}

// ServerReflectionInfo is a bidi stream: one list_services request, one answer.
function listServices(reflection) {
  return new Promise((resolve, reject) => {
    const call = reflection.ServerReflectionInfo();
    const names = [];
    call.on('data', (response) => {
      if (response.message_response === 'error_response') {
        reject(new Error(`reflection: ${response.error_response.error_message}`));
      } else if (response.message_response === 'list_services_response') {
        names.push(...response.list_services_response.service.map((s) => s.name));
      }
    });
    call.on('error', reject);
    call.on('end', () => resolve(names.sort()));
    call.write({ list_services: '' });
    call.end();
  });
}

// One WatchTask stream from `cursor`. Resolves with {finished: status},
// {dropped: true} (the deliberate drop), {ended: true} (ended OK before
// FINALIZED) or {error}. `onEvent` sees every event first.
function watchOnce(tasks, taskUuid, cursor, dropAfterFirst, onEvent) {
  return new Promise((resolve) => {
    const call = tasks.WatchTask({ task_uuid: taskUuid, resume_cursor: cursor });
    let done = false;
    const finish = (result) => { if (!done) { done = true; resolve(result); } };
    call.on('data', (event) => {
      if (done) return; // after our cancel(), nothing more of this stream
      onEvent(event);
      if (event.kind === 'TASK_EVENT_KIND_FINALIZED') {
        finish({ finished: event.task.status });
      } else if (dropAfterFirst) {
        finish({ dropped: true });
        call.cancel(); // its CANCELLED error is ignored below
      }
    });
    call.on('error', (error) => finish({ error }));
    call.on('end', () => finish({ ended: true }));
  });
}

// Watches until FINALIZED: drops the stream once on purpose after the first
// event, and resumes from the last cursor whenever the stream is UNAVAILABLE
// (bounded attempts, exponential backoff). Returns the final TaskStatus.
async function watchTask(tasks, taskUuid) {
  let cursor = '';
  let dropped = false;
  let failures = 0; // UNAVAILABLE in a row
  for (;;) {
    const result = await watchOnce(tasks, taskUuid, cursor, !dropped, (event) => {
      const task = event.task || {};
      console.log(`event: ${event.kind} ${task.status} ${Number(task.progress || 0)}`);
      cursor = event.cursor;
      failures = 0;
    });
    if (result.finished) return result.finished;
    if (result.dropped) {
      dropped = true;
      console.log(`resume: ${cursor}`);
    } else if (result.error && result.error.code === grpc.status.UNAVAILABLE && failures < 5) {
      failures++;
      console.error(`watch: ${result.error.details}; resuming (attempt ${failures})`);
      await sleep(Math.min(200 * 2 ** (failures - 1), 2000));
    } else if (result.error) {
      throw result.error;
    } else {
      throw new Error('WatchTask ended before the task was FINALIZED');
    }
  }
}

// DownloadAsset: metadata first, then chunks, written to OUT_DIR/<file_name>.
async function downloadAsset(tasks, taskUuid, outDir) {
  let fileName;
  let fd;
  let bytes = 0;
  try {
    for await (const response of tasks.DownloadAsset({ task_uuid: taskUuid })) {
      if (response.part === 'metadata') {
        fileName = path.basename(response.metadata.file_name); // no path tricks
        fd = fs.openSync(path.join(outDir, fileName), 'w');
      } else if (response.part === 'chunk') {
        if (fd === undefined) throw new Error('DownloadAsset: a chunk before the metadata');
        fs.writeSync(fd, response.chunk);
        bytes += response.chunk.length;
      }
    }
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (fileName === undefined) throw new Error('DownloadAsset: no metadata');
  return { fileName, bytes };
}

// Prints a failed call's code and message, and its google.rpc.Status details
// from the grpc-status-details-bin trailer (each Any decoded by its type URL).
const TO_OBJECT = { longs: Number, enums: String, defaults: true };
function printRichError(error, rpcTypes) {
  console.log(`error: ${grpc.status[error.code]} ${error.details}`);
  const [bin] = error.metadata ? error.metadata.get('grpc-status-details-bin') : [];
  const status = bin ? rpcTypes.lookupType('google.rpc.Status').decode(bin) : { details: [] };
  let reason = 'none';
  const violations = [];
  let retryDelay = 'none';
  for (const any of status.details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = rpcTypes.lookup(typeName);
    if (!(type instanceof protobuf.Type)) continue; // a detail this client does not know
    const detail = type.toObject(type.decode(any.value), TO_OBJECT);
    if (typeName === 'google.rpc.ErrorInfo') {
      reason = detail.reason;
    } else if (typeName === 'google.rpc.BadRequest') {
      violations.push(...detail.field_violations);
    } else if (typeName === 'google.rpc.RetryInfo' && detail.retry_delay) {
      retryDelay = `${detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9}s`;
    }
  }
  console.log(`error.reason: ${reason}`);
  for (const v of violations) console.log(`error.field_violation: ${v.field}: ${v.description}`);
  console.log(`error.retry_delay: ${retryDelay}`);
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const { api, rpcTypes } = loadProtos();
  // One channel for every stub, with the service config (retries, timeouts);
  // grpc-js validates the config here.
  let channel;
  try {
    channel = new grpc.Channel(flags.target, grpc.credentials.createInsecure(), {
      'grpc.service_config': fs.readFileSync(flags['service-config'], 'utf8'),
    });
  } catch (error) {
    throw new Error(`service config ${flags['service-config']}: ${error.message}`);
  }
  const stub = (Service) => new Service(flags.target, grpc.credentials.createInsecure(),
    { channelOverride: channel });
  const health = stub(api.grpc.health.v1.Health);
  const reflection = stub(api.grpc.reflection.v1alpha.ServerReflection);
  const tasks = stub(api.triverse.v1.TaskService);

  try {
    await checkHealth(health);
    console.log(`services: ${(await listServices(reflection)).join(', ')}`);

    // A client_order_id makes CreateTask idempotent, so retrying it is safe.
    const created = await unary(tasks, 'CreateTask', {
      text_to_model: { prompt: 'a small wooden chair' },
      client_order_id: `node-example-${crypto.randomUUID()}`,
    });
    console.log(`created: ${created.task_uuid}`);

    const status = await watchTask(tasks, created.task_uuid);
    console.log(`finished: ${status}`);
    if (status !== 'TASK_STATUS_SUCCESS') throw new Error(`the task ended ${status}`);

    const { fileName, bytes } = await downloadAsset(tasks, created.task_uuid, flags.out);
    console.log(`downloaded: ${fileName} ${bytes}`);

    // Deliberately invalid: an empty prompt and a bad client_order_id.
    try {
      await unary(tasks, 'CreateTask', {
        text_to_model: { prompt: '' }, client_order_id: 'not valid!',
      });
      throw new Error('the bad CreateTask succeeded');
    } catch (error) {
      if (typeof error.code !== 'number') throw error; // not a gRPC error
      printRichError(error, rpcTypes);
    }
  } finally {
    channel.close();
  }
}

main().catch((error) => {
  const code = typeof error.code === 'number' ? ` (${grpc.status[error.code]})` : '';
  console.error(`example: ${error.details || error.message}${code}`);
  process.exit(1);
});
