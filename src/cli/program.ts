// SPDX-License-Identifier: MIT
/** The command's name as users type it, used in every message the CLI prints. */
export const PROGRAM = 'electrum-gateway';
