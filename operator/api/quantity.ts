// Kubernetes resource quantities ("250m", "128Mi", "1e3", 2) resolved to plain numbers: cores
// for cpu, bytes for memory. Same grammar as resource.Quantity; returns a value or a typed
// error, never throws.

const QUANTITY =
  /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)))?$/;

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

export class QuantityError extends Error {
  readonly input: unknown;
  constructor(input: unknown, message: string) {
    super(`${JSON.stringify(input)} ${message}`);
    this.name = 'QuantityError';
    this.input = input;
  }
}

/** The quantity's value as a number (e.g. "250m" → 0.25, "1Ki" → 1024). */
export function parseQuantity(input: unknown): number | QuantityError {
  if (typeof input === 'number') {
    return Number.isFinite(input) ? input : new QuantityError(input, 'is not a finite number');
  }
  if (typeof input !== 'string') return new QuantityError(input, 'is not a quantity');
  const m = QUANTITY.exec(input.trim());
  if (!m || input.trim() !== input || input.length > 64) {
    return new QuantityError(input, 'is not a quantity (e.g. 250m, 1.5, 128Mi, 1G)');
  }
  const [, number, binary, decimal, exponent] = m;
  let value = Number(number);
  if (binary) value *= BINARY[binary] ?? Number.NaN;
  else if (decimal) value *= DECIMAL[decimal] ?? Number.NaN;
  else if (exponent !== undefined) {
    // resource.Quantity takes whole exponents only; the CRD's pattern is looser.
    if (!/^[+-]?\d+$/.test(exponent)) return new QuantityError(input, 'has a fractional exponent');
    // One literal, so 0e400 is 0 and not 0 × Infinity.
    value = Number(`${number}e${exponent}`);
  }
  if (!Number.isFinite(value)) return new QuantityError(input, 'is out of range');
  // Decimal suffixes multiply by inexact floats (0.1 * 1e-3): keep nanounit precision.
  return Math.round(value * 1e9) / 1e9;
}

/** CPU in cores, rounded up to the millicore as the kubelet does. */
export function cpuCores(input: unknown): number | QuantityError {
  const v = parseQuantity(input);
  return v instanceof QuantityError ? v : Math.ceil(Math.round(v * 1e9) / 1e6) / 1e3;
}

/** Memory in whole bytes, rounded up. */
export function memoryBytes(input: unknown): number | QuantityError {
  const v = parseQuantity(input);
  return v instanceof QuantityError ? v : Math.ceil(v);
}
