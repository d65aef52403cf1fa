// Which PKCS#12 encoding each device or browser imports, and the steps to import it there. Pure data and functions.
import { basename } from 'node:path';
import { UserError } from '../core/errors.ts';

export const PLATFORMS = ['macos', 'ios', 'android', 'windows', 'firefox', 'chrome', 'linux'] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface PlatformProfile {
  platform: Platform;
  /** Shown to the user. */
  label: string;
  /** true: 3DES + SHA-1 MAC; false: AES-256/PBES2 + SHA-256 MAC. */
  legacy: boolean;
  /** Why this encoding, in one line (printed with --for, kept in docs/pki.md). */
  why: string;
}

// Facts behind the choices (as reported by vendors and users; re-check when platforms change): macOS Keychain Access and iOS/iPadOS profile installation report
// "wrong password" for PBES2/AES + SHA-256-MAC files written by OpenSSL 3 on many releases still in use; Android's
// certificate installer does the same up to at least Android 13; Windows imports AES only from Windows 10 1709 /
// Server 2019 on. NSS (Firefox, Chrome/Chromium on Linux, pk12util) has read PBES2 for years.
const PROFILES: Record<Platform, PlatformProfile> = {
  macos: { platform: 'macos', label: 'macOS (Keychain Access; used by Safari, Chrome and Edge on macOS)', legacy: true,
    why: 'Keychain Access rejects AES/PBES2 .p12 files on many macOS releases' },
  ios: { platform: 'ios', label: 'iOS / iPadOS', legacy: true,
    why: 'iOS profile installation rejects AES/PBES2 .p12 files on many releases' },
  android: { platform: 'android', label: 'Android', legacy: true,
    why: 'the Android certificate installer rejects AES/PBES2 .p12 files up to at least Android 13' },
  windows: { platform: 'windows', label: 'Windows (certificate store; used by Edge and Chrome on Windows)', legacy: true,
    why: 'Windows before 10 1709 / Server 2019 cannot read AES/PBES2 .p12 files' },
  firefox: { platform: 'firefox', label: 'Firefox (its own certificate store, all systems)', legacy: false,
    why: 'Firefox (NSS) reads the modern AES-256 encoding' },
  chrome: { platform: 'chrome', label: 'Chrome / Chromium on Linux (NSS store)', legacy: false,
    why: 'Chrome on Linux uses NSS, which reads the modern AES-256 encoding' },
  linux: { platform: 'linux', label: 'Linux (NSS shared database ~/.pki/nssdb)', legacy: false,
    why: 'NSS reads the modern AES-256 encoding' },
};

/** Parses a --for value; unknown values are a usage error that lists the choices. */
export function parsePlatform(value: string): Platform {
  const v = value.trim().toLowerCase();
  if ((PLATFORMS as readonly string[]).includes(v)) return v as Platform;
  throw new UserError('CG_USAGE', `unknown platform "${value}" for --for`, { hint: `use one of: ${PLATFORMS.join(', ')}` });
}

export function platformProfile(platform: Platform): PlatformProfile {
  return PROFILES[platform];
}

/**
 * The encoding to write: --legacy always wins (legacy files import everywhere); otherwise the platform's choice;
 * otherwise modern.
 */
export function chooseLegacy(legacyFlag: boolean, platform: Platform | undefined): boolean {
  return legacyFlag || (platform !== undefined && PROFILES[platform].legacy);
}

/** Step-by-step import instructions for `file` (a .p12) whose identity shows up as `friendlyName`. */
export function importSteps(platform: Platform, file: string, friendlyName: string): string[] {
  // the file is copied to phones and Windows machines, so only its name means anything there
  const name = basename(file);
  switch (platform) {
    case 'macos':
      return [
        `Double-click ${file} (or run: security import ${q(file)} -k ~/Library/Keychains/login.keychain-db).`,
        'Choose the "login" keychain and enter the .p12 password when asked.',
        `Keychain Access > My Certificates now lists "${friendlyName}"; Safari, Chrome and Edge offer it when a site asks.`,
        'Firefox keeps its own store: export again with --for firefox.',
      ];
    case 'ios':
      return [
        `Send ${name} to the device (AirDrop, Mail, or the Files app) and tap it.`,
        'Open Settings > "Profile Downloaded" and tap Install; enter the device passcode, then the .p12 password.',
        `Settings > General > VPN & Device Management lists "${friendlyName}"; Safari offers it when a site asks.`,
      ];
    case 'android':
      return [
        `Copy ${name} to the device (USB, Drive, or download it).`,
        'Settings > Security & privacy > More security settings > Encryption & credentials > Install a certificate >',
        '  "VPN & app user certificate" (menu names vary by vendor); pick the file and enter the .p12 password.',
        `Name it "${friendlyName}"; Chrome offers it when a site asks for a client certificate.`,
      ];
    case 'windows':
      return [
        `Copy ${name} to the Windows machine and double-click it; in the Certificate Import Wizard choose "Current User".`,
        'Enter the .p12 password; leave "Mark this key as exportable" off; let Windows pick the store automatically.',
        `  (PowerShell: Import-PfxCertificate -FilePath .\\${name} -CertStoreLocation Cert:\\CurrentUser\\My -Password (Read-Host -AsSecureString))`,
        `certmgr.msc > Personal > Certificates lists "${friendlyName}"; Edge and Chrome offer it when a site asks.`,
      ];
    case 'firefox':
      return [
        'Firefox > Settings > Privacy & Security > Certificates > View Certificates... > Your Certificates > Import...',
        `Pick ${file} and enter the .p12 password.`,
        `"${friendlyName}" is listed under Your Certificates; Firefox offers it when a site asks.`,
      ];
    case 'chrome':
      return [
        'Chrome > Settings > Privacy and security > Security > Manage certificates > Your certificates > Import',
        `  (or run: pk12util -d sql:$HOME/.pki/nssdb -i ${q(file)}); enter the .p12 password.`,
        `Chrome offers "${friendlyName}" when a site asks. On Windows or macOS Chrome uses the system store: use --for windows or --for macos.`,
      ];
    case 'linux':
      return [
        `pk12util -d sql:$HOME/.pki/nssdb -i ${q(file)}   (asks for the .p12 password; create the db first with: certutil -N -d sql:$HOME/.pki/nssdb --empty-password)`,
        `certutil -L -d sql:$HOME/.pki/nssdb lists "${friendlyName}"; Chromium, Epiphany and other NSS programs use it.`,
        'For curl and git, PEM files are simpler: certgate client-config NAME --curl (or --git).',
      ];
  }
}

/** POSIX shell single-quoting, only when needed, so pasted commands work with any path. */
export function q(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
