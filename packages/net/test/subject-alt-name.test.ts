/** Node's subjectAltName text back into entries, quoted values included (what SAN certificate login reads). */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSubjectAltName } from '../src/tls.js';

describe('parseSubjectAltName', () => {
  it('splits plain entries', () => {
    expect(parseSubjectAltName('DNS:a.example, email:a@b.c, IP Address:127.0.0.1')).toEqual([
      ['DNS', 'a.example'],
      ['email', 'a@b.c'],
      ['IP Address', '127.0.0.1'],
    ]);
    expect(parseSubjectAltName('')).toEqual([]);
  });

  it('reads the JSON-quoted values Node writes for a value with a comma, from a real certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'junction-san-'));
    try {
      writeFileSync(
        join(dir, 'san.cnf'),
        '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=@alt\n[alt]\nDNS.1=x.example\nURI.1=spiffe://t/u?a=b,c\nemail.1=a@b.c\n',
      );
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
          .concat(['-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=x'])
          .concat(['-config', 'san.cnf', '-extensions', 'ext']),
        { cwd: dir, stdio: 'pipe' },
      );
      const san = new X509Certificate(readFileSync(join(dir, 'c.pem'))).subjectAltName!;
      expect(san).toContain('"');
      expect(parseSubjectAltName(san)).toEqual([
        ['DNS', 'x.example'],
        ['URI', 'spiffe://t/u?a=b,c'],
        ['email', 'a@b.c'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
