"""Korean queries and the English postings each should find, for comparing embedders.

Hand-written, not the generator's output: every target posting carries a detail its query
asks for (Airflow, SwiftUI, Unity, ICU, ...), so among generated postings of the same role
the target is still the best answer. Each query comes in Korean and in English so the gap
between the two languages is measured on the same targets.
"""

from __future__ import annotations

from typing import NamedTuple


class Target(NamedTuple):
    """One English posting and the Korean and English queries that should rank it first."""

    korean: str
    english: str
    title: str
    skills: tuple[str, ...]
    description: str


TARGETS: tuple[Target, ...] = (
    Target(
        "아이폰 앱 개발자",
        "iPhone app developer",
        "iOS Engineer",
        ("swift", "swiftui", "uikit", "xcode", "combine"),
        "Build our iPhone and iPad apps used by two million commuters. You will ship features "
        "in Swift and SwiftUI, keep the UIKit screens healthy, profile with Instruments and "
        "release through the App Store every two weeks.",
    ),
    Target(
        "데이터 엔지니어 에어플로우",
        "data engineer Airflow",
        "Data Engineer, Analytics Platform",
        ("python", "apache airflow", "dbt", "bigquery", "sql"),
        "Own the batch pipelines that feed our warehouse. You will write Airflow DAGs, model "
        "tables with dbt on BigQuery, monitor data freshness and help analysts get reliable "
        "numbers every morning.",
    ),
    Target(
        "고랭 백엔드 개발자",
        "Golang backend developer",
        "Backend Engineer (Go)",
        ("go", "grpc", "postgresql", "redis", "microservices"),
        "Design and run the Go services behind our payments API. You will write gRPC "
        "microservices, tune PostgreSQL queries, cache with Redis and take part in a calm "
        "on-call rotation.",
    ),
    Target(
        "리액트 타입스크립트 프론트엔드 개발자",
        "React TypeScript frontend developer",
        "Frontend Engineer, Web App",
        ("react", "typescript", "next.js", "css", "accessibility"),
        "Build the web app our customers use all day. You will write React components in "
        "TypeScript, render pages with Next.js, care about accessibility and page speed, and "
        "work closely with our designers.",
    ),
    Target(
        "쿠버네티스 클러스터 운영 엔지니어",
        "Kubernetes cluster operations engineer",
        "Platform Engineer, Kubernetes",
        ("kubernetes", "helm", "terraform", "argo cd", "linux"),
        "Run the Kubernetes clusters every team deploys to. You will upgrade clusters, write "
        "Helm charts and Terraform modules, roll out Argo CD and make deployments boring and "
        "safe.",
    ),
    Target(
        "추천 시스템 머신러닝 엔지니어",
        "recommendation system machine learning engineer",
        "Machine Learning Engineer, Recommendations",
        ("python", "pytorch", "feature store", "a/b testing", "spark"),
        "Improve the recommendations on our home feed. You will train ranking models in "
        "PyTorch, build features with Spark, run A/B tests and ship models that serve millions "
        "of requests a day.",
    ),
    Target(
        "테스트 자동화 QA 엔지니어",
        "test automation QA engineer",
        "QA Automation Engineer",
        ("playwright", "cypress", "test automation", "ci/cd", "jira"),
        "Keep our releases free of regressions. You will write end-to-end tests with Playwright "
        "and Cypress, run them in CI, triage flaky tests and report bugs with clear steps to "
        "reproduce.",
    ),
    Target(
        "피그마 UX 디자이너",
        "UX designer using Figma",
        "Product Designer (UX)",
        ("figma", "user research", "prototyping", "design systems", "usability testing"),
        "Design the flows of our booking app from research to pixels. You will interview users, "
        "prototype in Figma, run usability tests and grow our design system with the "
        "engineers.",
    ),
    Target(
        "핀테크 프로덕트 매니저",
        "fintech product manager",
        "Product Manager, Payments",
        ("product management", "roadmapping", "payments", "stakeholder management", "sql"),
        "Lead the product for our card payments and bank transfers. You will own the roadmap, "
        "talk to merchants, write clear requirements and decide with data what the team builds "
        "next.",
    ),
    Target(
        "고객 지원 상담원 채팅 이메일",
        "customer support agent for chat and email",
        "Customer Support Agent",
        ("zendesk", "live chat", "email support", "empathy", "troubleshooting"),
        "Help our customers by chat and email. You will answer questions about orders and "
        "refunds in Zendesk, solve problems on first contact and pass product feedback to the "
        "team.",
    ),
    Target(
        "B2B SaaS 영업 담당자",
        "B2B SaaS sales representative",
        "Account Executive, SaaS",
        ("b2b sales", "saas", "salesforce", "negotiation", "pipeline management"),
        "Sell our SaaS platform to mid-sized companies. You will run demos, manage your "
        "pipeline in Salesforce, negotiate annual contracts and beat a quarterly quota.",
    ),
    Target(
        "모의 해킹 보안 전문가",
        "penetration testing security specialist",
        "Security Engineer, Penetration Testing",
        ("penetration testing", "burp suite", "owasp", "threat modeling", "python"),
        "Find the holes before attackers do. You will run penetration tests on our web and "
        "mobile apps with Burp Suite, model threats with product teams and help engineers fix "
        "OWASP top ten issues.",
    ),
    Target(
        "포스트그레스 데이터베이스 관리자",
        "PostgreSQL database administrator",
        "Database Administrator (PostgreSQL)",
        ("postgresql", "patroni", "pgbackrest", "query tuning", "replication"),
        "Keep our PostgreSQL fleet fast and safe. You will run Patroni clusters, test backups "
        "with pgBackRest, tune slow queries, plan capacity and manage replication across "
        "regions.",
    ),
    Target(
        "코틀린 안드로이드 앱 개발자",
        "Kotlin Android app developer",
        "Android Engineer",
        ("kotlin", "jetpack compose", "android sdk", "coroutines", "gradle"),
        "Build our Android app for riders. You will write Kotlin with Jetpack Compose and "
        "coroutines, keep the Gradle build quick and ship releases to the Play Store.",
    ),
    Target(
        "SQL 대시보드 데이터 분석가",
        "data analyst building SQL dashboards",
        "Data Analyst, Business Intelligence",
        ("sql", "tableau", "excel", "statistics", "looker"),
        "Turn our sales data into decisions. You will write SQL, build dashboards in Tableau "
        "and Looker, explain trends to managers and answer ad-hoc questions from every team.",
    ),
    Target(
        "유니티 게임 클라이언트 프로그래머",
        "Unity game client programmer",
        "Game Client Programmer (Unity)",
        ("unity", "c#", "shaders", "mobile games", "performance profiling"),
        "Make our mobile role-playing game feel great. You will program gameplay and UI in "
        "Unity with C#, write shaders, profile frame times on low-end phones and work with "
        "artists and designers.",
    ),
    Target(
        "임베디드 펌웨어 개발자",
        "embedded firmware developer",
        "Embedded Firmware Engineer",
        ("c", "rtos", "arm cortex-m", "i2c", "spi"),
        "Write the firmware inside our smart home sensors. You will program ARM Cortex-M "
        "microcontrollers in C on an RTOS, talk to chips over I2C and SPI and squeeze power "
        "use for batteries that last years.",
    ),
    Target(
        "기술 문서 작성자",
        "technical writer",
        "Technical Writer, Developer Docs",
        ("technical writing", "docs-as-code", "markdown", "api documentation", "git"),
        "Write the documentation developers love. You will write guides and API references "
        "in Markdown, keep docs-as-code in Git next to the product and work with engineers to "
        "explain complex features simply.",
    ),
    Target(
        "IT 개발자 채용 담당자",
        "IT recruiter hiring software engineers",
        "Technical Recruiter",
        ("technical recruiting", "sourcing", "linkedin recruiter", "interviewing", "ats"),
        "Hire the engineers who build our product. You will source developers on LinkedIn, "
        "screen candidates, run interview loops with hiring managers and keep our applicant "
        "tracking system tidy.",
    ),
    Target(
        "월말 결산 회계 담당자",
        "accountant for month-end close",
        "Accountant, General Ledger",
        ("accounting", "month-end close", "reconciliation", "ifrs", "sap"),
        "Keep our books accurate. You will run the month-end close, reconcile accounts, post "
        "journal entries in SAP and prepare reports under IFRS for the auditors.",
    ),
    Target(
        "퍼포먼스 마케팅 디지털 광고",
        "performance marketing for digital ads",
        "Performance Marketing Manager",
        ("google ads", "meta ads", "performance marketing", "attribution", "budget management"),
        "Grow our customer base with paid ads. You will run campaigns on Google Ads and Meta, "
        "test creatives, manage a monthly budget and measure return with attribution models.",
    ),
    Target(
        "중환자실 간호사",
        "intensive care unit nurse",
        "Registered Nurse, Intensive Care Unit",
        ("critical care", "patient monitoring", "ventilator management", "bls", "acls"),
        "Care for critically ill patients in our twenty-bed ICU. You will monitor patients, "
        "manage ventilators, give medication safely and work in a team with doctors on twelve "
        "hour shifts.",
    ),
    Target(
        "블록체인 스마트 컨트랙트 개발자",
        "blockchain smart contract developer",
        "Smart Contract Engineer",
        ("solidity", "ethereum", "smart contracts", "security audits", "web3"),
        "Write the smart contracts behind our payments network. You will develop in Solidity "
        "on Ethereum, test contracts thoroughly, prepare security audits and build web3 "
        "integrations.",
    ),
    Target(
        "장애 대응 사이트 신뢰성 엔지니어",
        "site reliability engineer for incident response",
        "Site Reliability Engineer",
        ("prometheus", "grafana", "incident response", "slos", "on-call"),
        "Keep our services up. You will define SLOs, build alerts with Prometheus and Grafana, "
        "lead incident response, write blameless postmortems and remove toil with automation.",
    ),
    Target(
        "컴퓨터 비전 딥러닝 연구원",
        "computer vision deep learning researcher",
        "Computer Vision Research Scientist",
        ("computer vision", "deep learning", "pytorch", "object detection", "research"),
        "Teach cameras to understand warehouses. You will research object detection and "
        "tracking models, train them with PyTorch on large image sets and publish what you "
        "learn.",
    ),
    Target(
        "한영 번역가",
        "Korean to English translator",
        "Translator, Korean to English",
        ("translation", "korean", "english", "localization", "proofreading"),
        "Translate our app, help pages and marketing from Korean into natural English. You "
        "will localise product texts, proofread other translators and keep our glossary "
        "consistent.",
    ),
    Target(
        "AWS 클라우드 아키텍트",
        "AWS cloud architect",
        "Cloud Solutions Architect (AWS)",
        ("aws", "cloud architecture", "terraform", "networking", "cost optimization"),
        "Design how our customers run on AWS. You will draw cloud architectures, plan "
        "migrations from data centres, set up networking and security and cut monthly cloud "
        "costs.",
    ),
    Target(
        "시스코 네트워크 엔지니어",
        "Cisco network engineer",
        "Network Engineer",
        ("cisco", "routing", "switching", "bgp", "firewalls"),
        "Run the network of our offices and data centres. You will configure Cisco routers and "
        "switches, manage BGP and firewalls, troubleshoot outages and plan upgrades.",
    ),
    Target(
        "대규모 언어 모델 자연어 처리 엔지니어",
        "NLP engineer for large language models",
        "NLP Engineer, Large Language Models",
        ("nlp", "large language models", "python", "fine-tuning", "retrieval"),
        "Build features on large language models. You will fine-tune models for summarising "
        "and answering questions, build retrieval over our documents and evaluate quality "
        "with careful test sets.",
    ),
    Target(
        "물류 공급망 관리자",
        "logistics and supply chain manager",
        "Supply Chain Manager",
        ("supply chain", "logistics", "inventory planning", "vendor management", "erp"),
        "Get our products to stores on time. You will plan inventory, manage carriers and "
        "warehouses, negotiate with vendors and keep the ERP data right.",
    ),
    Target(
        "A/B 테스트 데이터 사이언티스트",
        "data scientist for A/B testing",
        "Data Scientist, Experimentation",
        ("a/b testing", "statistics", "python", "causal inference", "sql"),
        "Help teams learn from experiments. You will design A/B tests, analyse results with "
        "sound statistics and causal inference in Python and SQL, and teach product teams to "
        "read them.",
    ),
    Target(
        "초등학교 영어 교사",
        "primary school English teacher",
        "English Teacher, Primary School",
        ("teaching", "english", "lesson planning", "classroom management", "esl"),
        "Teach English to children aged seven to twelve. You will plan lessons, run lively "
        "classes, track progress and talk with parents about how their children are doing.",
    ),
)
