// (4) The web pages: the search page (/), a search (/?q=<hot text>) and a posting
// (/postings/<id>, ids found by setup()), in equal parts, from WEB_VUS users.
//
// Thresholds per page (tag `page`): README "Performance (operations and web)", bench_web.py
// at 10,000 postings, one request at a time: 8-147 ms on a page's first request (a new
// text is embedded), 2-7 ms warm; make load, 8 users, quiet machine: ~340 pages/s, p99
// 41 (home) / 90 (search) / 80 ms (posting). WEB_P99_MS (200) bounds every page.
import http from 'k6/http';
import { check } from 'k6';
import { graphql, QUERIES, BASE, DURATION, searchBody, limit, COUNTED } from './lib.js';

const P99 = limit('WEB_P99_MS', 200);

export const options = {
  vus: Number(__ENV.WEB_VUS || 8),
  duration: DURATION,
  thresholds: {
    ...COUNTED,
    'http_req_duration{page:home}': [`p(99)<${P99}`],
    'http_req_duration{page:search}': [`p(99)<${P99}`],
    'http_req_duration{page:posting}': [`p(99)<${P99}`],
    'http_req_failed{phase:load}': ['rate<0.01'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  const ids = [];
  for (const text of QUERIES.hot) {
    const res = graphql(searchBody(text), { phase: 'setup' });
    for (const edge of res.json('data.search.edges') || []) ids.push(edge.node.id);
    http.get(`${BASE}/?q=${encodeURIComponent(text)}`, { tags: { phase: 'setup' } });
  }
  if (ids.length === 0) throw new Error('no postings found: run `make demo` first');
  return { ids };
}

export default function (data) {
  const i = __VU + __ITER;
  let url;
  let page;
  if (i % 3 === 0) {
    url = `${BASE}/`;
    page = 'home';
  } else if (i % 3 === 1) {
    url = `${BASE}/?q=${encodeURIComponent(QUERIES.hot[i % QUERIES.hot.length])}`;
    page = 'search';
  } else {
    url = `${BASE}/postings/${encodeURIComponent(data.ids[i % data.ids.length])}`;
    page = 'posting';
  }
  const res = http.get(url, { tags: { page, phase: 'load' } });
  check(res, { 'status 200': (r) => r.status === 200 });
}
