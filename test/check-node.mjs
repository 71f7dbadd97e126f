// Runs before `npm test` under whatever `node` is first on the PATH. Plain JavaScript on
// purpose: it must run on the old Node it is there to reject.
const required = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < required) {
  console.error(
    `sidecar-monitor needs Node.js ${required} (LTS) or newer; this is Node ${process.versions.node}.\n` +
      `Run 'npm ci' first: it installs Node ${required} as a dev dependency and 'npm test' then uses it.\n` +
      `Or install Node ${required} yourself (https://nodejs.org/).`,
  );
  process.exit(1);
}
