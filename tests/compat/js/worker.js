// A Conductor worker written against the official JavaScript SDK (@io-orkes/conductor-javascript),
// unchanged, as its README shows: OrkesClients + TaskHandler + a worker object. tests/compat runs it
// against a live Baton with authentication on.
//
// Environment (the SDK's own variables, plus what this script is asked to do):
//   CONDUCTOR_SERVER_URL, CONDUCTOR_AUTH_KEY, CONDUCTOR_AUTH_SECRET   where and who (read by the SDK)
//   BATON_JS_TASK_TYPE     the task type to poll
//   BATON_JS_WORKFLOW_ID   the workflow whose task to complete; the script exits once it did
//   BATON_JS_TIMEOUT_MS    give up (exit 2) after this long; default 30000
//
// It completes the task with {greeting, sdk, sdkVersion, node, taskId}, waits for the SDK to report
// the update accepted, reads the workflow back through the SDK's workflow client, prints one JSON
// line starting with "RESULT " and exits 0. Any error exits 1.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { OrkesClients, TaskHandler } = require("@io-orkes/conductor-javascript");

// The package's "exports" hide its package.json; read it next to dist/index.js.
const sdkVersion = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("@io-orkes/conductor-javascript")), "..", "package.json"), "utf8"),
).version;

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

async function main() {
  const taskType = required("BATON_JS_TASK_TYPE");
  const workflowId = required("BATON_JS_WORKFLOW_ID");
  const timeoutMs = Number(process.env.BATON_JS_TIMEOUT_MS || "30000");

  const clients = await OrkesClients.from({
    serverUrl: required("CONDUCTOR_SERVER_URL"),
    keyId: required("CONDUCTOR_AUTH_KEY"),
    keySecret: required("CONDUCTOR_AUTH_SECRET"),
  });

  let finish;
  const updated = new Promise((resolve) => {
    finish = resolve;
  });

  const worker = {
    taskDefName: taskType,
    pollInterval: 100,
    concurrency: 1,
    execute: async (task) => ({
      status: "COMPLETED",
      outputData: {
        greeting: `Hello, ${task.inputData.name}!`,
        sdk: "conductor-javascript",
        sdkVersion,
        node: process.version,
        taskId: task.taskId,
      },
    }),
  };

  const handler = new TaskHandler({
    client: clients.getClient(),
    workers: [worker],
    scanForDecorated: false,
    eventListeners: [
      {
        onTaskUpdateCompleted(event) {
          if (event.workflowInstanceId === workflowId) {
            finish(event);
          }
        },
        onTaskUpdateFailure(event) {
          console.error("task update failed", JSON.stringify(event));
        },
      },
    ],
  });

  let timer;
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no task of ${workflowId} completed within ${timeoutMs} ms`)), timeoutMs);
  });

  await handler.startWorkers();
  let event;
  try {
    event = await Promise.race([updated, timedOut]);
  } finally {
    clearTimeout(timer);
    await handler.stopWorkers();
  }

  const workflow = await clients.getWorkflowClient().getWorkflow(workflowId, true);
  const result = {
    taskId: event.taskId,
    workerId: event.workerId,
    workflowStatus: workflow.status,
    workflowOutput: workflow.output,
    sdkVersion,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(String(error && error.message).startsWith("no task of") ? 2 : 1);
  },
);
