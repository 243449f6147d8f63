/**
 * What AdCP's schema patterns and formats ask for, in words and with
 * examples: a refused value is answered with what to send instead, not a
 * regular expression alone. Read as "<value> is not <what> (e.g. <example>)".
 */
export interface Hint {
  what: string;
  example?: string;
}

const DOMAIN = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$';

export const PATTERN_HINTS: Record<string, Hint> = {
  '^[A-Z]{2}$': { what: 'an ISO 3166-1 alpha-2 country code in capitals', example: 'US, GB, DE' },
  '^[A-Z]{2}-[A-Z0-9]{1,3}$': { what: 'an ISO 3166-2 subdivision code', example: 'US-CA, GB-SCT' },
  '^[A-Z]{2}-[A-Z0-9]+$': { what: 'an ISO 3166-2 subdivision code', example: 'US-CA, GB-SCT' },
  '^[A-Z]{2}(-[A-Z0-9]{1,3})?$': { what: 'an ISO 3166-1 country or 3166-2 subdivision code', example: 'US, US-CA' },
  '^[a-z]{2}$': { what: 'an ISO 639-1 language code in lower case', example: 'en, es, fr' },
  '^[A-Z]{3}$': { what: 'an ISO 4217 currency code', example: 'USD, EUR' },
  [DOMAIN]: { what: 'a domain name in lower case, without scheme or path', example: 'acme-drinks.example' },
  '^[a-z0-9_]+$': { what: 'made only of lower-case letters, digits and _', example: 'acme_drinks' },
  '^[a-z][a-z0-9_]*$': { what: 'made only of lower-case letters, digits and _, starting with a letter', example: 'budget_authority' },
  '^[a-zA-Z0-9_-]+$': { what: 'made only of letters, digits, _ and -', example: 'display_300x250' },
  '^\\d{4}-\\d{2}-\\d{2}$': { what: 'a date as YYYY-MM-DD', example: '2026-12-01' },
  '^[0-9]{8,14}$': { what: 'a GTIN of 8 to 14 digits', example: '00012345678905' },
  '^https://': { what: 'an https URL', example: 'https://acme-drinks.example/privacy' },
  '^[A-Za-z0-9_.:-]{16,255}$': { what: '16 to 255 letters, digits, or _ . : -', example: 'a fresh UUID v4 per request' },
  '^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$': { what: 'an IBAN in capitals without spaces', example: 'DE89370400440532013000' },
  '^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$': { what: 'a BIC (SWIFT code) of 8 or 11 characters', example: 'DEUTDEFF, DEUTDEFF500' },
  '^[A-Z]{2}[A-Z0-9]{2,13}$': { what: 'a VAT number with its country prefix, in capitals without spaces', example: 'DE123456789' },
};

export const FORMAT_HINTS: Record<string, Hint> = {
  'date-time': { what: 'an RFC 3339 date-time with a time zone', example: '2026-12-01T00:00:00Z' },
  date: { what: 'a date as YYYY-MM-DD', example: '2026-12-01' },
  uri: { what: 'a valid absolute URI (RFC 3986), with spaces and characters such as { } [ ] | ^ percent-encoded', example: 'https://example.com/path?q=1' },
  'uri-template': { what: 'a URI template (RFC 6570)', example: 'https://example.com/vast?cb={CACHEBUSTER}' },
  email: { what: 'an email address', example: 'billing@agency.example' },
};
