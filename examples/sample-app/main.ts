// `node examples/sample-app/main.ts [--port N] [--host H]`: prints one JSON line
// {"event":"listening","port":N} when ready; SIGTERM stops it.

import { parseArgs } from 'node:util';
import { createSampleApp } from './app.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const app = createSampleApp();
app.server.listen(Number(values.port), values.host, () => {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  console.log(JSON.stringify({ event: 'listening', port, pid: process.pid }));
});
const stop = () => {
  app.shutdown();
  app.server.close();
  app.server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
