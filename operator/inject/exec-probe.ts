// Exec probes the exporter can measure without running them: a command is translated into an
// equivalent loopback probe only when it is one of a few forms recognised exactly —
// grpc_health_probe, or curl or wget fetching a loopback URL, each with the flags listed here,
// run directly or as the whole script of `sh -c`. Anything else stays "not probed", with the
// reason. The app's commands are never run: the exporter only speaks the protocol they would.

/** What a recognised command checks. */
export type ExecCheck =
  | { kind: 'grpc'; port: number; service: string; tls: boolean }
  | {
      kind: 'http';
      port: number;
      path: string;
      scheme: 'HTTP' | 'HTTPS';
      headers: { name: string; value: string }[];
    };

export type ExecRecognition =
  | { ok: true; check: ExecCheck }
  /** not-loopback: a recognised form aimed at another host (never probed: no SSRF). */
  | { ok: false; why: 'unrecognised' | 'not-loopback'; message: string };

const MAX_ARGS = 64;
const MAX_ARG_LENGTH = 4096;
/** Hosts that mean "this pod", spelled as people write them; "" is no host at all. */
const LOOPBACK_HOSTS = new Set(['', 'localhost', '127.0.0.1', '[::1]']);
const SHELLS = new Set(['sh', 'bash', 'ash', 'dash']);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

type Result<T> = { ok: true; value: T } | { ok: false; message: string };
const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });
const unrecognised = (message: string): ExecRecognition => ({
  ok: false,
  why: 'unrecognised',
  message,
});

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function quote(word: string): string {
  return JSON.stringify(word.length > 60 ? `${word.slice(0, 60)}…` : word);
}

/**
 * Splits a `sh -c` script into words when it is one plain command: quotes are honoured,
 * and anything the shell would expand or interpret (variables, globs, redirections, pipes,
 * several commands) makes it unrecognised. A trailing `|| exit 1` is accepted: it changes
 * no exit status that matters to a probe.
 */
export function shellWords(script: string): Result<string[]> {
  const body = script.replace(/\s*\|\|\s*exit\s+1\s*$/, '');
  const words: string[] = [];
  let word: string | undefined;
  let quoteChar: "'" | '"' | undefined;
  for (const ch of body) {
    if (quoteChar === "'") {
      if (ch === "'") quoteChar = undefined;
      else word = (word ?? '') + ch;
    } else if (quoteChar === '"') {
      if (ch === '"') quoteChar = undefined;
      else if ('$`\\!'.includes(ch)) return fail(`shell expansion (${ch}) in the script`);
      else word = (word ?? '') + ch;
    } else if (ch === ' ' || ch === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === "'" || ch === '"') {
      quoteChar = ch;
      word ??= '';
    } else if ('|&;<>()$`\\*?[]{}~#!\n\r'.includes(ch)) {
      return fail(`shell syntax (${ch}) in the script`);
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quoteChar) return fail('unbalanced quotes in the script');
  if (word !== undefined) words.push(word);
  return { ok: true, value: words };
}

interface Url {
  scheme: 'HTTP' | 'HTTPS';
  host: string;
  port: number;
  path: string;
}

/** http(s)://host:port/path, the scheme optional (http) as curl and wget allow. */
export function parseUrl(text: string): Result<Url> {
  const m =
    /^(?:([A-Za-z]+):\/\/)?(\[[^\]]*\]|[^/:?#[\]@]*)(?::(\d{1,5}))?([/?][^#]*)?(#.*)?$/.exec(text);
  if (!m) return fail(`URL ${quote(text)} is not http(s)://host[:port]/path`);
  const scheme = (m[1] ?? 'http').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return fail(`URL scheme ${quote(scheme)}`);
  const port = m[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) return fail(`URL port ${m[3] ?? ''}`);
  const rest = m[4] ?? '/';
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  if (/\s/.test(path) || path.length > 2048) return fail('URL path the exporter cannot send');
  return {
    ok: true,
    value: {
      scheme: scheme === 'https' ? 'HTTPS' : 'HTTP',
      host: (m[2] ?? '').toLowerCase(),
      port,
      path,
    },
  };
}

/** Go's net.SplitHostPort, for grpc_health_probe's -addr (a numeric port only). */
function parseAddr(addr: string): Result<{ host: string; port: number }> {
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) return fail(`-addr ${quote(addr)} is not HOST:PORT`);
  return { ok: true, value: { host: (m[1] ?? '').toLowerCase(), port } };
}

function parseHeader(text: string): Result<{ name: string; value: string }> {
  const colon = text.indexOf(':');
  const name = text.slice(0, Math.max(colon, 0));
  const value = text.slice(colon + 1).trim();
  // "Name:" and "Name;" remove a header or send an empty one in curl: not a request we send.
  if (colon <= 0 || !HEADER_NAME.test(name) || value === '' || /[\r\n\0]/.test(value))
    return fail(`header ${quote(text)}`);
  return { ok: true, value: { name, value } };
}

const notLoopback = (host: string): ExecRecognition => ({
  ok: false,
  why: 'not-loopback',
  message: `host ${quote(host)} is not localhost, 127.0.0.1 or [::1]; the exporter probes this pod's loopback only`,
});

/**
 * grpc_health_probe (github.com/grpc-ecosystem/grpc-health-probe), Go flag syntax: -flag,
 * --flag, -flag=value, -flag value. Flags that change what is checked or how (client
 * certificates, a CA file, a server name, metadata, ALTS, SPIFFE, gzip) are not recognised.
 */
function grpcHealthProbe(args: readonly string[]): ExecRecognition {
  const bools = new Set(['tls', 'tls-no-verify', 'v']);
  const values = new Set(['addr', 'service', 'connect-timeout', 'rpc-timeout', 'user-agent']);
  const seen = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const m = /^--?([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) return unrecognised(`grpc_health_probe argument ${quote(arg)}`);
    const name = m[1] ?? '';
    let value = m[2];
    if (bools.has(name)) {
      value ??= 'true';
      if (value !== 'true' && value !== 'false')
        return unrecognised(`grpc_health_probe -${name}=${quote(value)}`);
    } else if (values.has(name)) {
      if (value === undefined) {
        value = args[++i];
        if (value === undefined) return unrecognised(`grpc_health_probe -${name} without a value`);
      }
    } else {
      return unrecognised(`grpc_health_probe flag -${name}`);
    }
    seen.set(name, value);
  }
  const addr = seen.get('addr');
  if (addr === undefined) return unrecognised('grpc_health_probe without -addr');
  for (const t of ['connect-timeout', 'rpc-timeout']) {
    const v = seen.get(t);
    if (v !== undefined && !GO_DURATION.test(v))
      return unrecognised(`grpc_health_probe -${t} ${quote(v)}`);
  }
  const tls = seen.get('tls') === 'true';
  if (seen.get('tls-no-verify') === 'true' && !tls)
    return unrecognised('grpc_health_probe -tls-no-verify without -tls (the command always fails)');
  const parsed = parseAddr(addr);
  if (!parsed.ok) return unrecognised(`grpc_health_probe ${parsed.message}`);
  if (!LOOPBACK_HOSTS.has(parsed.value.host)) return notLoopback(parsed.value.host);
  const service = seen.get('service') ?? '';
  if (service.length > 256 || !/^[!-~]*$/.test(service))
    return unrecognised(`grpc_health_probe -service ${quote(service)}`);
  return { ok: true, check: { kind: 'grpc', port: parsed.value.port, service, tls } };
}

interface FetchSyntax {
  program: 'curl' | 'wget';
  /** Options without a value, by short letter or long name. */
  bools: ReadonlySet<string>;
  /** Options with a value; headers are collected, the rest only checked. */
  values: ReadonlySet<string>;
  header: ReadonlySet<string>;
  url: ReadonlySet<string>;
  /** GNU wget takes --long=value; curl does not. */
  longEquals: boolean;
}

const CURL: FetchSyntax = {
  program: 'curl',
  bools: new Set([
    'f',
    'fail',
    'fail-with-body',
    's',
    'silent',
    'S',
    'show-error',
    'L',
    'location',
    'k',
    'insecure',
    'v',
    'verbose',
    'q',
    'no-progress-meter',
  ]),
  values: new Set(['o', 'output', 'm', 'max-time', 'connect-timeout', 'H', 'header', 'url']),
  header: new Set(['H', 'header']),
  url: new Set(['url']),
  longEquals: false,
};

const WGET: FetchSyntax = {
  program: 'wget',
  bools: new Set([
    'q',
    'quiet',
    'S',
    'server-response',
    'spider',
    'no-verbose',
    'no-check-certificate',
  ]),
  values: new Set(['O', 'output-document', 'T', 'timeout', 't', 'tries', 'header']),
  header: new Set(['header']),
  url: new Set(),
  longEquals: true,
};

/**
 * curl or wget fetching one loopback URL with the usual flags (silent, fail, output to a
 * file or stdout, timeouts, headers). The derived probe is the kubelet's httpGet rule: a GET,
 * 200–399 is success, redirects followed on loopback only, certificates not verified.
 */
function fetchCommand(syntax: FetchSyntax, args: readonly string[]): ExecRecognition {
  const { program } = syntax;
  const urls: string[] = [];
  const headers: { name: string; value: string }[] = [];
  const option = (name: string, value: string | undefined): ExecRecognition | undefined => {
    if (syntax.header.has(name)) {
      const h = parseHeader(value ?? '');
      if (!h.ok) return unrecognised(`${program} ${h.message}`);
      headers.push(h.value);
    }
    if (syntax.url.has(name)) urls.push(value ?? '');
    return undefined;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg.startsWith('--')) {
      const eq = syntax.longEquals ? arg.indexOf('=') : -1;
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      if (syntax.bools.has(name) && eq < 0 && name.length > 1) continue;
      if (!syntax.values.has(name) || name.length === 1)
        return unrecognised(`${program} option ${quote(arg)}`);
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) return unrecognised(`${program} ${arg} without a value`);
      const problem = option(name, value);
      if (problem) return problem;
    } else if (arg.startsWith('-') && arg.length > 1) {
      // Short options cluster (-fsSL); one taking a value ends the cluster, its value is the
      // rest of the word or the next word (-o/dev/null, -qO-, -m 5).
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] ?? '';
        // wget's -nv is the one multi-letter short option.
        if (program === 'wget' && j === 1 && arg === '-nv') break;
        if (syntax.bools.has(letter)) continue;
        if (!syntax.values.has(letter))
          return unrecognised(
            `${program} option -${letter}${arg.length > 2 ? ` (in ${quote(arg)})` : ''}`,
          );
        const value = j + 1 < arg.length ? arg.slice(j + 1) : args[++i];
        if (value === undefined) return unrecognised(`${program} -${letter} without a value`);
        const problem = option(letter, value);
        if (problem) return problem;
        break;
      }
    } else {
      urls.push(arg);
    }
  }
  if (urls.length !== 1)
    return unrecognised(`${program} with ${urls.length === 0 ? 'no URL' : 'several URLs'}`);
  const url = parseUrl(urls[0] ?? '');
  if (!url.ok) return unrecognised(`${program} ${url.message}`);
  if (!LOOPBACK_HOSTS.has(url.value.host)) return notLoopback(url.value.host);
  if (headers.length > 16) return unrecognised(`${program} with more than 16 headers`);
  const { port, path, scheme } = url.value;
  return { ok: true, check: { kind: 'http', port, path, scheme, headers } };
}

/** Recognises an exec probe's command, or says why it is not probed. */
export function recogniseExec(command: unknown): ExecRecognition {
  if (!Array.isArray(command) || command.length === 0) return unrecognised('no command');
  if (command.length > MAX_ARGS) return unrecognised(`more than ${MAX_ARGS} arguments`);
  if (!command.every((a): a is string => typeof a === 'string' && a.length <= MAX_ARG_LENGTH))
    return unrecognised('arguments that are not short strings');
  // The kubelet expands $(VAR) from the container's env in exec probes; we do not guess.
  if (command.some((a) => a.includes('$(')))
    return unrecognised('$(VAR) references in the command');
  const [program = '', ...args] = command;
  if (SHELLS.has(basename(program)) && args[0] === '-c' && args.length === 2) {
    const words = shellWords(args[1] ?? '');
    if (!words.ok) return unrecognised(words.message);
    const [inner = '', ...rest] = words.value;
    if (SHELLS.has(basename(inner))) return unrecognised('a shell inside a shell');
    return recogniseExec([inner, ...rest]);
  }
  switch (basename(program)) {
    case 'grpc_health_probe':
      return grpcHealthProbe(args);
    case 'curl':
      return fetchCommand(CURL, args);
    case 'wget':
      return fetchCommand(WGET, args);
    default:
      return unrecognised(`program ${quote(basename(program))}`);
  }
}
