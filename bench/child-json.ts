import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs this same bench script again in a child process with `args` and returns the JSON it
 * prints on stdout. Generating the corpus there keeps its garbage out of the measured
 * process's memory figures.
 */
export function runSelfForJson<T>(scriptUrl: string, args: string[]): Promise<T> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(scriptUrl), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`generation failed (exit code ${code})`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}
