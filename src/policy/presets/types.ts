/**
 * presets/types — a built-in preset: a complete v1 policy document as YAML text, used through
 * `extends: [NAME]`. Pure data.
 */
export interface Preset {
  readonly name: string;
  readonly description: string;
  /** a complete v1 policy document */
  readonly yaml: string;
}
