// (3) Mutations: publishPosting with the demo's publish key (JOBSTREAM_HOME/keys/demo.token,
// passed by make load as LOAD_API_KEY), at a constant RATE per second. The API embeds each
// posting with its own model and answers once Kafka acknowledged the event.
//
// The postings reuse POOL ids (load-0 .. load-N) with versions from the clock, so repeated
// runs do not grow the demo; teardown() deletes them (a tombstone at a later version), so
// they leave the search results when the run ends.
//
// Thresholds: MUTATION_P99_MS (250) for the publish round trip (embedding and Kafka's ack;
// measured at 10/s on a quiet machine: p50 48 ms, p99 86 ms) and error rate < 1 %.
import { check } from 'k6';
import { graphql, DURATION, limit, COUNTED } from './lib.js';

const TOKEN = __ENV.LOAD_API_KEY;
const RATE = Number(__ENV.RATE || 10);
const POOL = Number(__ENV.POOL || 200);
const AUTH = { authorization: `Bearer ${TOKEN}` };
const PUBLISH =
  'mutation P($input: PostingInput!) { publishPosting(input: $input)' +
  ' { accepted { id version } errors { field message } } }';
const DELETE =
  'mutation D($id: ID!, $v: Long!) { deletePosting(id: $id, version: $v)' +
  ' { accepted { id } errors { field message } } }';
const SKILLS = ['Python', 'Kafka', 'PostgreSQL', 'Kubernetes', 'Go', 'TypeScript', 'Redis'];

export const options = {
  scenarios: {
    publish: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: 16,
      maxVUs: 64,
    },
  },
  thresholds: {
    ...COUNTED,
    'http_req_duration{phase:load}': [`p(99)<${limit('MUTATION_P99_MS', 250)}`],
    'graphql_errors{phase:load}': ['rate<0.01'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  if (!TOKEN) throw new Error('LOAD_API_KEY is not set (make load reads the demo key file)');
  return { start: Date.now() };
}

// a version above every earlier run's (the clock in microseconds) and unique per request
function version(n) {
  return Date.now() * 1000 + (n % 1000);
}

export default function () {
  const n = __VU * 1000003 + __ITER;
  const skill = SKILLS[n % SKILLS.length];
  const input = {
    id: `load-${n % POOL}`,
    version: version(n),
    title: `Load test ${skill} engineer`,
    company: 'k6 load test',
    countryCode: 'DE',
    city: 'Berlin',
    remoteMode: 'REMOTE',
    employmentType: 'FULL_TIME',
    experienceMinYears: 2,
    experienceMaxYears: 5,
    englishLevel: 'FLUENT',
    skills: [skill, 'k6'],
    description: `A posting published by tests/load/mutations.js to measure publishPosting (${skill}).`,
  };
  const res = graphql(JSON.stringify({ query: PUBLISH, variables: { input } }), { phase: 'load' }, AUTH);
  check(res, {
    accepted: (r) => r.status === 200 && r.json('data.publishPosting.accepted') !== null,
  });
}

export function teardown() {
  const v = version(999);
  for (let i = 0; i < POOL; i++) {
    graphql(JSON.stringify({ query: DELETE, variables: { id: `load-${i}`, v } }), { phase: 'teardown' }, AUTH);
  }
}
