/**
 * policy/presets — built-in agent-class presets as policy YAML text, by name.
 * (Being filled in: see catalogs helper.)
 */
export interface Preset {
  readonly name: string;
  readonly description: string;
  /** a complete v1 policy document */
  readonly yaml: string;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  "locked-down": {
    name: "locked-down",
    description: "Nothing leaves the sandbox; every attempt is on record",
    yaml: "version: 1\nname: locked-down\ndescription: Nothing leaves the sandbox\nmode: enforce\nrules: []\ndefault: deny\n",
  },
};
