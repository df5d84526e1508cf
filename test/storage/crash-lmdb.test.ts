import { crashSuite } from './crash-harness.js';
import { lmdbCrash } from './crash-backends.js';

crashSuite(lmdbCrash);
