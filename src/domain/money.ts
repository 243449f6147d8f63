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
