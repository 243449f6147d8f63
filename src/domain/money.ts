/**
 * Decimal-safe money. Amounts travel as strings with up to 4 decimals and are
 * compared and summed as scaled BigInts, never as floats.
 */
const SCALE = 4;
const FACTOR = 10n ** BigInt(SCALE);

export function toUnits(amount: number | string): bigint {
  const s = typeof amount === 'number' ? amount.toFixed(SCALE) : amount.trim();
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new Error(`not a decimal amount: ${s}`);
  const frac = (m[3] ?? '').padEnd(SCALE, '0').slice(0, SCALE);
  const units = BigInt(m[2]!) * FACTOR + BigInt(frac || '0');
  return m[1] ? -units : units;
}

export function fromUnits(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const whole = abs / FACTOR;
  const frac = (abs % FACTOR).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

export const sumAmounts = (amounts: (number | string)[]): string => fromUnits(amounts.reduce<bigint>((a, b) => a + toUnits(b), 0n));
export const compareAmounts = (a: number | string, b: number | string): number => {
  const d = toUnits(a) - toUnits(b);
  return d === 0n ? 0 : d < 0n ? -1 : 1;
};
/** For the wire: AdCP carries money as JSON numbers. */
export const amountToNumber = (a: string | null | undefined): number | undefined => (a == null ? undefined : Number(a));

/**
 * ISO 4217 minor units: the decimal places an amount in the currency can have (cents for USD,
 * whole yen for JPY, fils for KWD). Two for every currency not listed.
 */
const MINOR_UNITS: Readonly<Record<string, number>> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};
export const minorUnits = (currency: string): number => MINOR_UNITS[currency.toUpperCase()] ?? 2;

/** The decimal places of a number as JSON wrote it (its shortest round-trip form): 100.001 has 3, 1e-7 has 7, 1e21 none. */
export function decimalPlaces(n: number): number {
  const [mantissa, exponent] = n.toExponential().split('e');
  return Math.max(0, (mantissa!.split('.')[1]?.length ?? 0) - Number(exponent));
}
