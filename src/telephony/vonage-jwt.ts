import { type KeyObject, createPrivateKey, randomUUID, sign } from "node:crypto";
import { InvalidOptionError } from "../errors.js";

/**
 * The application's RSA private key (PEM, as the Vonage dashboard downloads it), checked once.
 * Throws {@link InvalidOptionError} naming `where` when it is not an RSA private key.
 */
export function vonagePrivateKey(pem: string | KeyObject, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = typeof pem === "string" ? createPrivateKey(pem) : pem;
  } catch (error) {
    throw new InvalidOptionError(
      `vonage: ${where} is not a PEM private key (${error instanceof Error ? error.message : String(error)}); ` +
        "give the contents of the private.key file the Vonage dashboard made for the application",
      { cause: error },
    );
  }
  if (key.type !== "private" || key.asymmetricKeyType !== "rsa") {
    throw new InvalidOptionError(
      `vonage: ${where} is a ${key.asymmetricKeyType ?? "symmetric"} ${key.type} key; Vonage signs with the application's RSA private key`,
    );
  }
  return key;
}

/**
 * A JWT for the Vonage Voice API: header `{"alg":"RS256","typ":"JWT"}`, claims
 * `application_id`, `iat`, `exp` (`iat` + `ttlSeconds`) and a fresh `jti`, signed with the
 * application's private key (RSASSA-PKCS1-v1_5 with SHA-256). `nowMs` is wall-clock time in ms
 * since the epoch (the claims are seconds).
 */
export function vonageJwt(applicationId: string, key: KeyObject, nowMs: number, ttlSeconds: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const claims = base64url(
    JSON.stringify({ application_id: applicationId, iat, exp: iat + ttlSeconds, jti: randomUUID() }),
  );
  const signed = `${header}.${claims}`;
  const signature = sign("sha256", Buffer.from(signed), key).toString("base64url");
  return `${signed}.${signature}`;
}

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
