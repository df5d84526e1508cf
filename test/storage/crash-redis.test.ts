import { crashSuite } from './crash-harness.js';
import { redisCrash } from './crash-backends.js';

crashSuite(redisCrash);
