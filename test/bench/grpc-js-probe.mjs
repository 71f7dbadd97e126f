// The road not taken, for `npm run bench -- grpc-probes` only: the exporter's gRPC attempt
// written with a full gRPC stack, dropped over dist's exporter/probes/grpc-probe.js in a
// throwaway build so the same exporter can be measured both ways. Same contract as the real
// module (one connection per attempt, one deadline, a 64 KiB message cap, the same reasons).
//
// GRPC_JS_PROTO=1: the request and response types come from grpc-health-check's service
// definition (@grpc/proto-loader and protobufjs, as an app using a gRPC library would have
// them); otherwise from the few bytes of grpc-wire.js (grpc-js alone).

import * as grpc from '@grpc/grpc-js';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK_PATH,
} from './grpc-wire.js';

const MAX_MESSAGE_BYTES = 64 * 1024;

const codec =
  process.env.GRPC_JS_PROTO === '1'
    ? await import('grpc-health-check').then(({ service }) => ({
        serialize: (service_) => service.Check.requestSerialize({ service: service_ }),
        status: (buf) => {
          const { status } = service.Check.responseDeserialize(buf);
          return typeof status === 'number'
            ? ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][status]
            : status;
        },
      }))
    : {
        serialize: (service_) => encodeHealthCheckRequest(service_),
        status: (buf) => {
          const decoded = decodeHealthCheckResponse(buf);
          if (!decoded.ok) throw Object.assign(new Error(decoded.message), { reason: 'protocol' });
          return decoded.value;
        },
      };

const REASONS = {
  [grpc.status.DEADLINE_EXCEEDED]: 'timeout',
  [grpc.status.NOT_FOUND]: 'service_unknown',
  [grpc.status.UNIMPLEMENTED]: 'unimplemented',
  [grpc.status.UNAVAILABLE]: 'refused',
  [grpc.status.RESOURCE_EXHAUSTED]: 'body_too_large',
};

export function grpcFailureReason(error) {
  return REASONS[error?.code] ?? 'other';
}

export function grpcAttempt({ probe, userAgent, now, signal }) {
  const start = now();
  const elapsed = () => (now() - start) / 1000;
  const credentials = probe.tls
    ? grpc.credentials.createSsl(null, null, null, {
        rejectUnauthorized: !probe.insecureSkipVerify,
      })
    : grpc.credentials.createInsecure();
  const client = new grpc.Client(`127.0.0.1:${probe.port}`, credentials, {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.primary_user_agent': userAgent,
    // One connection per attempt, as the node:http2 probe does.
    'grpc.use_local_subchannel_pool': 1,
  });
  return new Promise((resolve) => {
    const finish = (outcome) => {
      client.close();
      resolve({ statusCode: 0, ...outcome, phases: { total: elapsed() } });
    };
    const call = client.makeUnaryRequest(
      HEALTH_CHECK_PATH,
      codec.serialize,
      (buf) => buf,
      probe.service,
      { deadline: Date.now() + probe.timeoutSeconds * 1000 },
      (error, response) => {
        if (error) {
          finish({ success: false, reason: grpcFailureReason(error), error });
          return;
        }
        try {
          const status = codec.status(response);
          if (status === 'SERVING') finish({ success: true });
          else
            finish({
              success: false,
              reason: status === 'SERVICE_UNKNOWN' ? 'service_unknown' : 'not_serving',
              error: new Error(`status ${status}`),
            });
        } catch (err) {
          finish({ success: false, reason: 'protocol', error: err });
        }
      },
    );
    signal?.addEventListener('abort', () => call.cancel(), { once: true });
  });
}
