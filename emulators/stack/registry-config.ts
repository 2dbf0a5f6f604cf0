/** The docker-registry (distribution 2.8) config the stack generates. */
import crypto from 'node:crypto';

export function registryConfig(opts: { port: number; storageDir: string; notifyUrl: string }): string {
  return `version: 0.1
log:
  level: info
  formatter: json
storage:
  filesystem:
    rootdirectory: ${opts.storageDir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${opts.port}
  secret: ${crypto.randomBytes(16).toString('hex')}
notifications:
  endpoints:
    - name: sigsentry-bridge
      url: ${opts.notifyUrl}
      timeout: 5s
      threshold: 10
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
`;
}
