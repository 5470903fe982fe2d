// Builds what tests/colab/test_colab_widget_manager.py serves to Chromium, into dist/:
//   manager.min.js  Colab's widget manager, from its published TypeScript source, bundled with
//                   esbuild 0.11.23 as its own repository does (CSS first, then one ES module);
//   host.bundle.js  the test page's kernel client (../page/host.js with @jupyterlab/services).
// The source folder: $COLAB_WIDGET_MANAGER_SRC, else ../shared/colab-widget-manager/src beside
// the checkout. Run `npm ci` here first; then `node build.mjs` (about a second).
import {execFileSync} from 'node:child_process';
import {cpSync, existsSync, mkdirSync, rmSync} from 'node:fs';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, '..', '..', '..');
const source = process.env.COLAB_WIDGET_MANAGER_SRC ||
  resolve(repository, '..', 'shared', 'colab-widget-manager', 'src');
if (!existsSync(join(source, 'index.ts'))) {
  console.error(`Colab's widget manager source is not in ${source}: set COLAB_WIDGET_MANAGER_SRC ` +
                'to the src/ folder of googlecolab/colab-cdn-widget-manager');
  process.exit(2);
}

// npm 11 does not run esbuild 0.11's install script, which puts the platform binary in place.
const esbuildPackage = join(here, 'node_modules', 'esbuild');
try {
  execFileSync(join(esbuildPackage, 'bin', 'esbuild'), ['--version'], {stdio: 'ignore'});
} catch {
  execFileSync(process.execPath, ['install.js'], {cwd: esbuildPackage, stdio: 'inherit'});
}
const {build} = await import('esbuild');

// The manager's index.ts imports '../lib/index.css.txt': build in a copy with that layout.
const work = join(here, 'build');
rmSync(work, {recursive: true, force: true});
mkdirSync(work);
cpSync(source, join(work, 'src'), {recursive: true});
await build({
  entryPoints: [join(work, 'src', 'index.css')],
  bundle: true,
  outfile: join(work, 'lib', 'index.css.txt'),
  nodePaths: [join(here, 'node_modules')],
  logLevel: 'error',
});
await build({
  entryPoints: [join(work, 'src', 'index.ts')],
  bundle: true,
  format: 'esm',
  minify: true,
  outfile: join(here, 'dist', 'manager.min.js'),
  nodePaths: [join(here, 'node_modules')],
  logLevel: 'error',
});
await build({
  entryPoints: [join(here, '..', 'page', 'host.js')],
  bundle: true,
  format: 'esm',
  outfile: join(here, 'dist', 'host.bundle.js'),
  nodePaths: [join(here, 'node_modules')],
  // @jupyterlab/services reads this at run time; outside Jest (and webpack) it is not defined
  define: {'process.env.JEST_WORKER_ID': 'undefined'},
  logLevel: 'error',
});
console.log(`built ${join(here, 'dist')} from ${source}`);
