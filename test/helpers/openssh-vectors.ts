/**
 * Public keys OpenSSH generated (`ssh-keygen -t …`, exported with `-e -m PKCS8`) and the SHA256
 * fingerprints `ssh-keygen -l -E sha256` gives for them: the key IDs sigstore-go expects.
 */
export const OPENSSH_RSA = {
  name: 'ssh-keygen -t rsa -b 2048',
  pem: `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApAlMVYmgnhVJBSZmddoH
2zWW8MpOYC64gPRkQZHqsOwA4Dv1XKyGaK1KPgWIG0+5pRAJdsGlcwyWscTawyv5
WNayUYT+2v29LAD0B9ySa2ZX+2TlOUEkbTWxDe0CPVmZDtBWpzplIcV4cpnmdH1A
lbsCIUYaZO8kMgsxAuG5qCivm8yDdkBtTfoicjhl9oqEKnzffMKGoLXbyq4bgvZA
9cF8Y5mqveF3YFFUWvcDQQlUdOOHPObY5GImGrFXGsoCHZXK5yvfVU35h294vLDT
EGYt6uJFq11aeDWU+PIieFPwqdXIdfh0fw43SX8Zq/0a/QP+wPGdovto0ybRD452
kwIDAQAB
-----END PUBLIC KEY-----`,
  fingerprint: 'SHA256:Oty8Lr9oSR0m3YHqSSyHfznPpTfTruCOc2xKW3Yb9II',
};

export const OPENSSH_P256 = {
  name: 'ssh-keygen -t ecdsa -b 256',
  pem: `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEcAn6x6nDuSc1l0Ik2xLPYRWWNu67
pupXMFobKZtmlgrPEXfdh+efQtsKUsb+X0bbiQdLPGM8LzUt3mhFieQI7Q==
-----END PUBLIC KEY-----`,
  fingerprint: 'SHA256:f0oXy7/DolW534H0f7PVhxT7GDAeB5uB7Je5VYDWusw',
};

export const OPENSSH_ED25519 = {
  name: 'ssh-keygen -t ed25519',
  pem: `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAu7OC2oFH6zfjeFijJ+wJJH8zB+c0CjA51Zrks4sTPdg=
-----END PUBLIC KEY-----`,
  fingerprint: 'SHA256:0iI9U2iai2AHGdRT87E9/+kRjVk1bf8uk5q2HJ9aD3k',
};

export const OPENSSH_VECTORS = [OPENSSH_RSA, OPENSSH_P256, OPENSSH_ED25519];
