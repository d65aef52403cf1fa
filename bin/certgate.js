#!/usr/bin/env node
// Launcher: refuses a Node.js older than package.json's engines in one line, then runs src/ (checkout) or dist/ (package).

// `npm install -g` only warns (EBADENGINE) on an old Node, so this file is what users of one actually run. It must get
// as far as the version check on any Node a distribution ships (Ubuntu 20.04's apt Node 10, 22.04's Node 12): no static
// import (CommonJS before Node 12 cannot parse it), no import.meta (ES modules only), no top-level await (Node 14.8),
// and nothing before the check that needs a newer Node. test/cli/launcher.test.ts runs it under a real old Node.
var MINIMUM = [22, 18]; // package.json "engines.node" (">=22.18"); a test keeps the two equal
var found = process.versions.node.split('.').map(Number);

if (found[0] < MINIMUM[0] || (found[0] === MINIMUM[0] && found[1] < MINIMUM[1])) {
  process.stderr.write(
    'certgate: needs Node.js ' + MINIMUM.join('.') + ' or newer, found ' + process.version + ' (' + process.execPath + '); ' +
      'install Node.js 24 with nvm (nvm install 24), from NodeSource (https://github.com/nodesource/distributions) ' +
      'or from https://nodejs.org/en/download, then run certgate again\n',
  );
  process.exitCode = 1;
} else {
  // From here on Node is new enough: process.getBuiltinModule (22.3) stands in for the imports this file cannot have.
  var fs = process.getBuiltinModule('node:fs');
  var path = process.getBuiltinModule('node:path');
  var url = process.getBuiltinModule('node:url');
  // argv[1] may be npm's symlink in a bin directory; the package root is two levels above the real file
  var root = path.dirname(path.dirname(fs.realpathSync(process.argv[1])));
  var src = path.join(root, 'src', 'cli', 'main.ts');
  var entry = fs.existsSync(src) ? src : path.join(root, 'dist', 'cli', 'main.js');
  import(url.pathToFileURL(entry).href).catch(function (err) {
    process.stderr.write('certgate: internal error: cannot start: ' + ((err && err.stack) || err) + '\n');
    process.exitCode = 2;
  });
}
