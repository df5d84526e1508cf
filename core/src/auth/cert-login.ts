/**
 * Which user a verified client certificate logs in as (AMQP's EXTERNAL mechanism, MQTT and
 * STOMP certificate login), as RabbitMQ's rabbitmq_auth_mechanism_ssl and its
 * `ssl_cert_login_from` / `ssl_cert_login_san_type` settings pick it: the subject's common
 * name, the whole distinguished name, or the first subjectAltName of one type.
 */

/**
 * cn: the subject's CN (RabbitMQ's `common_name`); dn: the subject as an RFC 4514 string, most
 * specific attribute first, as RabbitMQ writes it ("O=Example,CN=device-1",
 * `distinguished_name`); san-*: the first subjectAltName of that type
 * (`subject_alternative_name` with `ssl_cert_login_san_type` email, dns or uri).
 */
export type CertLoginFrom = 'cn' | 'dn' | 'san-email' | 'san-dns' | 'san-uri';

export const CERT_LOGIN_FROM: readonly CertLoginFrom[] = ['cn', 'dn', 'san-email', 'san-dns', 'san-uri'];

/** What the transport read from a client certificate that verified against the listener's CA. */
export interface CertificateIdentity {
  /** Subject attributes in certificate order, values unescaped: [['CN', 'device-1'], ['O', 'Example']]. */
  readonly subject: readonly (readonly [string, string])[];
  /** subjectAltName entries in certificate order: [['DNS', 'a.example'], ['email', 'a@b'], ['URI', 'x:y']]. */
  readonly altNames: readonly (readonly [string, string])[];
}

/** The user a verified certificate names, or why it names none. */
export type CertificateLogin = { readonly user: string } | { readonly problem: string };

const SAN_TYPE: Record<'san-email' | 'san-dns' | 'san-uri', string> = {
  'san-email': 'email',
  'san-dns': 'DNS',
  'san-uri': 'URI',
};

export function certificateLogin(cert: CertificateIdentity, from: CertLoginFrom): CertificateLogin {
  let user: string | undefined;
  if (from === 'cn') {
    // Several CNs: the first, as RabbitMQ's rabbit_ssl takes it.
    user = cert.subject.find(([type]) => type === 'CN')?.[1];
  } else if (from === 'dn') {
    user = cert.subject.length > 0 ? distinguishedName(cert.subject) : undefined;
  } else {
    const type = SAN_TYPE[from];
    user = cert.altNames.find(([t]) => t === type)?.[1];
  }
  if (user === undefined || user === '')
    return { problem: `the client certificate has no ${describe(from)}` };
  return { user };
}

function describe(from: CertLoginFrom): string {
  if (from === 'cn') return 'subject CN';
  if (from === 'dn') return 'subject';
  return `subjectAltName of type ${SAN_TYPE[from]}`;
}

/** RFC 4514: attributes in reverse certificate order, special characters escaped. */
export function distinguishedName(subject: readonly (readonly [string, string])[]): string {
  return subject
    .map(([type, value]) => `${type}=${escapeDnValue(value)}`)
    .reverse()
    .join(',');
}

function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
    .replace(/\p{Cc}/gu, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
