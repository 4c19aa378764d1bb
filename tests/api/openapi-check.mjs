// openapi-check.mjs - tests/api/openapi.sh's checks, with npm's validators
//
//   node openapi-check.mjs validate DOC
//	the document is valid OpenAPI 3.1 (@apidevtools/swagger-parser)
//   node openapi-check.mjs body DOC METHOD PATH STATUS FILE
//	FILE (a response body) is valid against the schema DOC gives the
//	JSON response STATUS of METHOD PATH (PATH as written in DOC's
//	paths), with Ajv's JSON Schema 2020-12 (OpenAPI 3.1's dialect)
//   node openapi-check.mjs bodies DOC LIST
//	the same for every line of LIST, "METHOD PATH STATUS FILE"
//	separated by tabs, with one start of node and one validation of
//	DOC for them all; prints a line for each, "FILE<tab>ok" or
//	"FILE<tab>" and the reasons
//
// Exit 0 when valid (bodies: every one); 1 with the reasons on stdout
// otherwise.
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fs from 'node:fs';

const [mode, doc, ...rest] = process.argv.slice(2);

// problems - why FILE is not a valid STATUS answer of METHOD PATH: [] if it is
function problems(api, method, path, status, file) {
    try {
	const op = api.paths[path]?.[method.toLowerCase()];
	const resp = op?.responses?.[status];
	const schema = resp?.content?.['application/json']?.schema;
	if (!schema)
	    return [`no JSON schema for ${method} ${path} ${status}`];
	const ajv = new Ajv2020({ allErrors: true, strict: false });
	addFormats(ajv);
	const validate = ajv.compile(schema);
	const body = JSON.parse(fs.readFileSync(file, 'utf8'));
	if (validate(body))
	    return [];
	return validate.errors.map(
	    (e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    } catch (e) {
	return [String(e.message || e).split('\n').slice(0, 5).join(' | ')];
    }
}

try {
    const api = await SwaggerParser.validate(doc);
    if (!api.openapi.startsWith('3.1.')) {
	console.log(`openapi is ${api.openapi}, not 3.1`);
	process.exit(1);
    }
    if (mode === 'validate') {
	console.log(`valid: ${Object.keys(api.paths).length} paths`);
	process.exit(0);
    }
    if (mode === 'bodies') {
	let bad = 0;
	for (const line of fs.readFileSync(rest[0], 'utf8').split('\n')) {
	    if (line === '')
		continue;
	    const [method, path, status, file] = line.split('\t');
	    const p = problems(api, method, path, status, file);
	    bad += p.length > 0;
	    console.log(`${file}\t${p.length ? p.join(' | ') : 'ok'}`);
	}
	process.exit(bad ? 1 : 0);
    }
    const [method, path, status, file] = rest;
    const p = problems(api, method, path, status, file);
    for (const e of p)
	console.log(e);
    process.exit(p.length ? 1 : 0);
} catch (e) {
    console.log(String(e.message || e).split('\n').slice(0, 5).join(' | '));
    process.exit(1);
}
