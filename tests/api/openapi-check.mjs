// openapi-check.mjs - tests/api/openapi.sh's checks, with npm's validators
//
//   node openapi-check.mjs validate DOC
//	the document is valid OpenAPI 3.1 (@apidevtools/swagger-parser)
//   node openapi-check.mjs body DOC METHOD PATH STATUS FILE
//	FILE (a response body) is valid against the schema DOC gives the
//	JSON response STATUS of METHOD PATH (PATH as written in DOC's
//	paths), with Ajv's JSON Schema 2020-12 (OpenAPI 3.1's dialect)
//
// Exit 0 when valid; 1 with the reasons on stdout otherwise.
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fs from 'node:fs';

const [mode, doc, method, path, status, file] = process.argv.slice(2);

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
    const op = api.paths[path]?.[method.toLowerCase()];
    const resp = op?.responses?.[status];
    const schema = resp?.content?.['application/json']?.schema;
    if (!schema) {
	console.log(`no JSON schema for ${method} ${path} ${status}`);
	process.exit(1);
    }
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const body = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!validate(body)) {
	for (const e of validate.errors)
	    console.log(`${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
	process.exit(1);
    }
    process.exit(0);
} catch (e) {
    console.log(String(e.message || e).split('\n').slice(0, 5).join(' | '));
    process.exit(1);
}
