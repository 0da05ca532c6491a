import { afterEach, describe, expect, it } from "vitest";
import { PROVIDER_SERVICES } from "../support/provider-services.js";

const SERVICES = PROVIDER_SERVICES;

const saved = new Map<string, string | undefined>();
afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
});
function setProcessEnv(name: string, value: string): void {
  if (!saved.has(name)) saved.set(name, process.env[name]);
  process.env[name] = value;
}

describe("provider services read their endpoint from the env option", () => {
  it.each(SERVICES)(
    "%s: a %s that is not a URL is refused when the service is made, naming the variable",
    (_name, variable, make) => {
      expect(() => make({ [variable]: "not a url" })).toThrow(variable);
    },
  );

  it.each(SERVICES)("%s: with an env option, %s in process.env is not read", (_name, variable, make) => {
    setProcessEnv(variable, "not a url");
    expect(() => make({})).not.toThrow();
    expect(() => make({ [variable]: "http://127.0.0.1:9" })).not.toThrow();
  });
});
