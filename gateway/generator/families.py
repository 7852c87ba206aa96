"""The role families: coherent titles, skills, duties and teams per family, and where each
family works (sectors, remote and contract profiles, a US mid-level base salary).

Plain data; see :class:`gateway.generator.catalog.Family` for the meaning of each field.
Entries are indexed by a seeded RNG, so editing or reordering them changes generated
postings (determinism holds within one version of this file). Titles must stay unique
across families: :func:`gateway.generator.family_of` reads the family back from a title.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.generator.catalog import Family, pipes

_TECH = "tech | tech | tech | finance | consumer | industrial"

FAMILIES: tuple[Family, ...] = (
    Family(
        key="backend_engineer",
        label="Backend engineer",
        titles=pipes("Backend Engineer | Backend Developer | Server-Side Engineer"),
        core=pipes("Python | Go | Java | PostgreSQL | REST APIs | Docker"),
        extra=pipes(
            "Kafka | Redis | gRPC | Kubernetes | Microservices | AWS | Kotlin | Node.js"
            " | Django | FastAPI | Spring Boot | SQL | GraphQL | RabbitMQ"
        ),
        duties=pipes(
            "design and build scalable APIs | own services from design to production"
            " | improve the performance and reliability of our backend"
            " | model data and write efficient queries | review code and mentor colleagues"
            " | integrate with third-party systems"
        ),
        teams=pipes("Payments | Platform | Search | Billing | Core Services | Integrations"),
        sectors=pipes(_TECH),
        base_usd=135_000,
        remote="remote",
        english_shift=1,
        weight=3.0,
        intern_titles=pipes("Backend Engineering Intern | Software Engineering Intern"),
    ),
    Family(
        key="frontend_engineer",
        label="Frontend engineer",
        titles=pipes("Frontend Engineer | Front-End Developer | UI Engineer"),
        core=pipes("JavaScript | TypeScript | React | CSS | HTML"),
        extra=pipes(
            "Vue.js | Next.js | Webpack | Accessibility | Jest | GraphQL | Redux"
            " | Figma | Storybook | Tailwind CSS | Vite | Cypress"
        ),
        duties=pipes(
            "build fast, accessible user interfaces | turn designs into polished components"
            " | maintain our design system | improve page load performance"
            " | work closely with designers and backend engineers"
        ),
        teams=pipes("Web | Design System | Checkout | Growth | Dashboard"),
        sectors=pipes(_TECH),
        base_usd=125_000,
        remote="remote",
        english_shift=1,
        weight=2.5,
        intern_titles=pipes("Frontend Engineering Intern | Web Development Intern"),
    ),
    Family(
        key="fullstack_engineer",
        label="Full-stack engineer",
        titles=pipes("Full-Stack Engineer | Full-Stack Developer | Software Engineer"),
        core=pipes("TypeScript | React | Node.js | PostgreSQL"),
        extra=pipes(
            "Python | Django | Ruby on Rails | GraphQL | Docker | AWS | REST APIs"
            " | Next.js | Redis | CI/CD | Tailwind CSS"
        ),
        duties=pipes(
            "ship features end to end, from database to user interface"
            " | talk to users and turn feedback into product improvements"
            " | keep our codebase clean and well tested | take part in architecture decisions"
        ),
        teams=pipes("Product | Customer Portal | Internal Tools | Marketplace"),
        sectors=pipes(_TECH),
        base_usd=130_000,
        remote="remote",
        english_shift=1,
        weight=2.5,
        intern_titles=pipes("Full-Stack Development Intern"),
    ),
    Family(
        key="ios_developer",
        label="iOS developer",
        titles=pipes("iOS Developer | iOS Engineer"),
        core=pipes("Swift | SwiftUI | UIKit | Xcode"),
        extra=pipes(
            "Combine | Core Data | Objective-C | TestFlight | XCTest | Swift Concurrency"
            " | App Store Connect | REST APIs | Firebase"
        ),
        duties=pipes(
            "build and ship features in our iOS app | keep the app fast and crash-free"
            " | work with designers on native interactions | automate releases and tests"
        ),
        teams=pipes("Mobile | Consumer App | Mobile Platform"),
        sectors=pipes("tech | tech | finance | consumer"),
        base_usd=130_000,
        remote="remote",
        english_shift=1,
        weight=1.2,
    ),
    Family(
        key="android_developer",
        label="Android developer",
        titles=pipes("Android Developer | Android Engineer"),
        core=pipes("Kotlin | Jetpack Compose | Android SDK | Gradle"),
        extra=pipes(
            "Java | Coroutines | Room | Firebase | Dagger | Espresso | REST APIs"
            " | Material Design | Google Play Console"
        ),
        duties=pipes(
            "build and ship features in our Android app | improve app startup and stability"
            " | migrate legacy screens to Jetpack Compose | support a wide range of devices"
        ),
        teams=pipes("Mobile | Consumer App | Mobile Platform"),
        sectors=pipes("tech | tech | finance | consumer"),
        base_usd=128_000,
        remote="remote",
        english_shift=1,
        weight=1.2,
    ),
    Family(
        key="devops_engineer",
        label="DevOps engineer",
        titles=pipes("DevOps Engineer | Platform Engineer | Cloud Engineer"),
        core=pipes("Kubernetes | Terraform | AWS | Docker | CI/CD | Linux"),
        extra=pipes(
            "Ansible | Prometheus | Helm | GCP | Azure | GitHub Actions | Bash | Argo CD"
            " | Jenkins | Python | Vault"
        ),
        duties=pipes(
            "automate our infrastructure with code | run and scale our Kubernetes clusters"
            " | speed up build and deployment pipelines | keep cloud costs under control"
            " | help developers ship safely and often"
        ),
        teams=pipes("Platform | Infrastructure | Cloud | Developer Experience"),
        sectors=pipes(_TECH),
        base_usd=138_000,
        remote="remote",
        contract="freelance",
        english_shift=1,
        weight=2.0,
        intern_titles=pipes("DevOps Intern | Cloud Engineering Intern"),
    ),
    Family(
        key="site_reliability_engineer",
        label="Site reliability engineer",
        titles=pipes("Site Reliability Engineer | Reliability Engineer | SRE"),
        core=pipes("Kubernetes | Prometheus | Linux | Observability | Incident Response"),
        extra=pipes(
            "Grafana | Go | Python | SLOs | Terraform | OpenTelemetry | On-Call"
            " | Chaos Engineering | Capacity Planning | PagerDuty"
        ),
        duties=pipes(
            "define and defend service level objectives | lead incident response and postmortems"
            " | build observability into every service | remove toil through automation"
        ),
        teams=pipes("Reliability | Production Engineering | Infrastructure"),
        sectors=pipes("tech | tech | finance"),
        base_usd=148_000,
        remote="remote",
        english_shift=1,
        weight=1.0,
        levels=pipes("junior | mid | senior | lead | principal"),
    ),
    Family(
        key="data_scientist",
        label="Data scientist",
        titles=pipes("Data Scientist | Decision Scientist | Product Data Scientist"),
        core=pipes("Python | SQL | Statistics | pandas | Machine Learning"),
        extra=pipes(
            "scikit-learn | A/B Testing | R | Jupyter | Causal Inference | Experimentation"
            " | Tableau | Bayesian Modeling | Forecasting | Spark"
        ),
        duties=pipes(
            "design experiments and analyse their results"
            " | build models that drive product decisions"
            " | turn messy data into clear recommendations | define and track key metrics"
        ),
        teams=pipes("Analytics | Growth | Pricing | Marketplace | Risk"),
        sectors=pipes("tech | tech | finance | consumer | health"),
        base_usd=132_000,
        remote="remote",
        english_shift=1,
        weight=1.8,
    ),
    Family(
        key="ml_engineer",
        label="Machine learning engineer",
        titles=pipes("Machine Learning Engineer | ML Engineer | Applied ML Engineer"),
        core=pipes("PyTorch | Python | Deep Learning | MLOps"),
        extra=pipes(
            "TensorFlow | Kubernetes | LLMs | Computer Vision | NLP | Feature Stores"
            " | Spark | ONNX | Hugging Face Transformers | Vector Databases | Ray"
        ),
        duties=pipes(
            "train, evaluate and deploy machine learning models"
            " | build pipelines that take models from notebook to production"
            " | monitor model quality in production | optimise inference latency and cost"
        ),
        teams=pipes("Machine Learning | Recommendations | Search Relevance | AI Platform"),
        sectors=pipes("tech | tech | tech | finance | health"),
        base_usd=158_000,
        remote="remote",
        english_shift=1,
        weight=1.8,
    ),
    Family(
        key="data_engineer",
        label="Data engineer",
        titles=pipes("Data Engineer | Analytics Engineer | Big Data Engineer"),
        core=pipes("SQL | Python | Spark | Airflow"),
        extra=pipes(
            "dbt | Kafka | Snowflake | BigQuery | Data Modeling | ETL | Databricks | Scala"
            " | Flink | Delta Lake | AWS"
        ),
        duties=pipes(
            "build reliable batch and streaming pipelines | model data for analytics"
            " | improve data quality and observability | run our data warehouse"
        ),
        teams=pipes("Data Platform | Analytics Engineering | Data Infrastructure"),
        sectors=pipes("tech | tech | finance | consumer | industrial"),
        base_usd=136_000,
        remote="remote",
        contract="freelance",
        english_shift=1,
        weight=1.8,
    ),
    Family(
        key="data_analyst",
        label="Data analyst",
        titles=pipes("Data Analyst | Business Intelligence Analyst | BI Analyst"),
        core=pipes("SQL | Excel | Data Visualization | Reporting"),
        extra=pipes(
            "Tableau | Power BI | Looker | Python | Google Analytics | Statistics"
            " | Dashboards | BigQuery"
        ),
        duties=pipes(
            "build dashboards the business relies on | answer questions with data"
            " | automate recurring reports | present findings to stakeholders"
        ),
        teams=pipes("Business Intelligence | Finance | Operations | Marketing"),
        sectors=pipes("tech | finance | consumer | consumer | health | industrial"),
        base_usd=82_000,
        remote="hybrid",
        weight=1.5,
    ),
    Family(
        key="qa_engineer",
        label="QA engineer",
        titles=pipes("QA Engineer | Test Automation Engineer | Software Engineer in Test"),
        core=pipes("Test Automation | Manual Testing | Regression Testing | Jira"),
        extra=pipes(
            "Selenium | Cypress | Playwright | pytest | API Testing | Postman | TestRail"
            " | Java | JMeter | CI/CD"
        ),
        duties=pipes(
            "design test plans for new features | automate our end-to-end test suite"
            " | find bugs before our customers do | improve release quality and speed"
        ),
        teams=pipes("Quality | Release | Mobile | Web"),
        sectors=pipes(_TECH),
        base_usd=100_000,
        remote="remote",
        english_shift=1,
        weight=1.5,
        intern_titles=pipes("QA Intern | Software Testing Intern"),
    ),
    Family(
        key="security_engineer",
        label="Security engineer",
        titles=pipes(
            "Security Engineer | Application Security Engineer | Information Security Analyst"
        ),
        core=pipes("Threat Modeling | Vulnerability Management | Cloud Security | IAM"),
        extra=pipes(
            "Penetration Testing | SIEM | OWASP | Incident Response | Python | ISO 27001"
            " | SOC 2 | Network Security | Burp Suite | Zero Trust"
        ),
        duties=pipes(
            "find and fix vulnerabilities across our systems | run security reviews of new features"
            " | respond to security incidents | build secure-by-default tooling for engineers"
        ),
        teams=pipes("Security | Product Security | Security Operations"),
        sectors=pipes("tech | tech | finance | finance | health"),
        base_usd=146_000,
        remote="remote",
        contract="freelance",
        english_shift=1,
        weight=1.2,
    ),
    Family(
        key="embedded_engineer",
        label="Embedded software engineer",
        titles=pipes("Embedded Software Engineer | Firmware Engineer"),
        core=pipes("C | C++ | RTOS | Microcontrollers"),
        extra=pipes(
            "Embedded Linux | ARM Cortex-M | CAN Bus | I2C | SPI | FreeRTOS | Yocto"
            " | Oscilloscope | Bluetooth Low Energy | Python"
        ),
        duties=pipes(
            "write firmware for our connected devices | bring up new hardware boards"
            " | debug issues down to the signal level | optimise power consumption"
        ),
        teams=pipes("Firmware | Devices | Hardware Platform"),
        sectors=pipes("industrial | industrial | tech | health"),
        base_usd=122_000,
        remote="office",
        english_shift=1,
        weight=1.0,
    ),
    Family(
        key="game_developer",
        label="Game developer",
        titles=pipes("Game Developer | Gameplay Programmer | Game Programmer"),
        core=pipes("Unity | C# | Unreal Engine | C++"),
        extra=pipes(
            "Game Design | 3D Math | Shaders | Multiplayer Networking | Blueprints | HLSL"
            " | Physics Simulation | Performance Profiling"
        ),
        duties=pipes(
            "prototype and polish gameplay features | optimise frame rate on every platform"
            " | work with artists and designers on new mechanics | build tools for our content team"
        ),
        teams=pipes("Gameplay | Engine | Live Ops | Tools"),
        sectors=pipes("games"),
        base_usd=105_000,
        remote="hybrid",
        english_shift=1,
        weight=0.8,
    ),
    Family(
        key="solutions_architect",
        label="Solutions architect",
        titles=pipes("Solutions Architect | Cloud Architect | Enterprise Architect"),
        core=pipes("System Design | Cloud Architecture | AWS | Microservices"),
        extra=pipes(
            "Azure | Presales | Terraform | Kubernetes | TOGAF | Security Architecture"
            " | Integration Patterns | Stakeholder Management"
        ),
        duties=pipes(
            "design solutions for our largest customers"
            " | guide teams through architecture decisions"
            " | run technical workshops and presales demos | define reference architectures"
        ),
        teams=pipes("Solutions | Architecture | Customer Engineering"),
        sectors=pipes("tech | tech | services | finance"),
        base_usd=160_000,
        remote="hybrid",
        contract="freelance",
        english_shift=1,
        weight=0.8,
        levels=pipes("mid | senior | lead | principal"),
    ),
    Family(
        key="database_administrator",
        label="Database administrator",
        titles=pipes("Database Administrator | Database Engineer | DBA"),
        core=pipes("SQL | PostgreSQL | Performance Tuning | Backup and Recovery"),
        extra=pipes(
            "Oracle | SQL Server | MySQL | Replication | High Availability | Linux | MongoDB"
            " | Query Optimization"
        ),
        duties=pipes(
            "keep our databases fast, safe and available | plan upgrades and migrations"
            " | tune slow queries with developers | automate backups and restores"
        ),
        teams=pipes("Database | Infrastructure | Data Platform"),
        sectors=pipes("tech | finance | finance | health | consumer"),
        base_usd=115_000,
        remote="hybrid",
        contract="freelance",
        weight=0.8,
        levels=pipes("junior | mid | senior | lead | principal"),
    ),
    Family(
        key="it_support",
        label="IT support specialist",
        titles=pipes("IT Support Specialist | System Administrator | IT Administrator"),
        core=pipes("Troubleshooting | Windows Server | Active Directory | Microsoft 365"),
        extra=pipes(
            "Networking | Linux | ITIL | VMware | PowerShell | Helpdesk | Intune | Jamf"
            " | Hardware Support"
        ),
        duties=pipes(
            "support colleagues with hardware and software issues"
            " | manage user accounts and devices"
            " | keep our office network running | document fixes in our knowledge base"
        ),
        teams=pipes("IT | Workplace Technology | Service Desk"),
        sectors=pipes("tech | finance | health | education | industrial | consumer | services"),
        base_usd=66_000,
        remote="office",
        weight=1.2,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("IT Support Intern"),
    ),
    Family(
        key="product_manager",
        label="Product manager",
        titles=pipes("Product Manager | Product Owner"),
        core=pipes("Product Strategy | Roadmapping | User Research | Agile"),
        extra=pipes(
            "Jira | A/B Testing | Stakeholder Management | Analytics | OKRs | Scrum | SQL"
            " | Product Discovery | Prioritization"
        ),
        duties=pipes(
            "own the roadmap for your product area | talk to customers every week"
            " | work with engineering and design to ship the right things"
            " | define success metrics and follow up on them"
        ),
        teams=pipes("Growth | Payments | Onboarding | Platform | Mobile"),
        sectors=pipes("tech | tech | tech | finance | consumer"),
        base_usd=142_000,
        remote="hybrid",
        english_shift=1,
        weight=1.5,
        intern_titles=pipes("Product Management Intern"),
    ),
    Family(
        key="project_manager",
        label="Project manager",
        titles=pipes("Project Manager | Program Manager | Delivery Manager"),
        core=pipes("Project Planning | Risk Management | Stakeholder Management | Budgeting"),
        extra=pipes(
            "PMP | PRINCE2 | MS Project | Agile | Scrum | Jira | Confluence"
            " | Change Management | Resource Planning"
        ),
        duties=pipes(
            "plan and deliver projects on time and on budget | coordinate work across several teams"
            " | report progress and risks to leadership | keep scope and priorities clear"
        ),
        teams=pipes("Delivery | PMO | Operations | Transformation"),
        sectors=pipes("tech | industrial | industrial | finance | services | health"),
        base_usd=105_000,
        remote="hybrid",
        contract="flexible",
        weight=1.3,
        levels=pipes("junior | mid | senior | lead | principal"),
    ),
    Family(
        key="business_analyst",
        label="Business analyst",
        titles=pipes("Business Analyst | Systems Analyst"),
        core=pipes("Requirements Gathering | Process Mapping | User Stories | SQL"),
        extra=pipes(
            "BPMN | Jira | UML | Stakeholder Management | Confluence | Excel | Data Analysis"
            " | Gap Analysis"
        ),
        duties=pipes(
            "gather and document business requirements | map and improve business processes"
            " | translate needs into clear user stories | support user acceptance testing"
        ),
        teams=pipes("Business Systems | Operations | Digital | Transformation"),
        sectors=pipes("finance | finance | tech | services | health | consumer"),
        base_usd=88_000,
        remote="hybrid",
        contract="flexible",
        weight=1.0,
    ),
    Family(
        key="ux_designer",
        label="UX designer",
        titles=pipes("UX Designer | Product Designer | UX/UI Designer"),
        core=pipes("Figma | User Research | Prototyping | Wireframing"),
        extra=pipes(
            "Usability Testing | Design Systems | Interaction Design | Sketch | Adobe XD"
            " | Information Architecture | Accessibility | UX Writing"
        ),
        duties=pipes(
            "design end-to-end user journeys | run interviews and usability tests"
            " | prototype ideas quickly and test them | contribute to our design system"
        ),
        teams=pipes("Design | Product | Mobile | Growth"),
        sectors=pipes("tech | tech | finance | consumer | services"),
        base_usd=115_000,
        remote="remote",
        english_shift=1,
        weight=1.3,
        intern_titles=pipes("UX Design Intern | Product Design Intern"),
    ),
    Family(
        key="graphic_designer",
        label="Graphic designer",
        titles=pipes("Graphic Designer | Visual Designer | Brand Designer"),
        core=pipes("Adobe Photoshop | Adobe Illustrator | Typography | Branding"),
        extra=pipes(
            "Adobe InDesign | Layout Design | After Effects | Figma | Print Design"
            " | Motion Graphics | Illustration | Social Media Graphics"
        ),
        duties=pipes(
            "create visual assets for campaigns and products | keep our brand consistent"
            " | design print and digital materials | work with copywriters on new concepts"
        ),
        teams=pipes("Brand | Creative | Marketing"),
        sectors=pipes("services | services | consumer | tech | games"),
        base_usd=66_000,
        remote="hybrid",
        contract="flexible",
        weight=1.0,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Graphic Design Intern"),
    ),
    Family(
        key="hr_generalist",
        label="HR generalist",
        titles=pipes("HR Generalist | HR Business Partner | People Partner"),
        core=pipes("Employee Relations | Performance Management | Onboarding | Labor Law"),
        extra=pipes(
            "HRIS | Workday | Compensation and Benefits | Talent Management | BambooHR"
            " | Payroll | Employee Engagement | Policy Development"
        ),
        duties=pipes(
            "advise managers on people matters | run performance and compensation cycles"
            " | improve onboarding for new joiners | keep our policies compliant and fair"
        ),
        teams=pipes("People | HR | People Operations"),
        sectors=pipes("tech | finance | health | industrial | consumer | services | education"),
        base_usd=82_000,
        remote="hybrid",
        weight=1.2,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("HR Intern | People Operations Intern"),
    ),
    Family(
        key="recruiter",
        label="Recruiter",
        titles=pipes("Recruiter | Talent Acquisition Specialist | Technical Recruiter"),
        core=pipes("Sourcing | Interviewing | Applicant Tracking Systems | Candidate Experience"),
        extra=pipes(
            "LinkedIn Recruiter | Greenhouse | Employer Branding | Boolean Search"
            " | Offer Negotiation | Workday | Lever | Recruitment Marketing"
        ),
        duties=pipes(
            "run hiring processes from first call to offer | source great candidates"
            " | advise hiring managers on the market | improve the candidate experience"
        ),
        teams=pipes("Talent Acquisition | People | Recruiting"),
        sectors=pipes("tech | tech | finance | services | health | consumer"),
        base_usd=76_000,
        remote="remote",
        contract="flexible",
        weight=1.0,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Recruiting Intern | Talent Acquisition Intern"),
    ),
    Family(
        key="marketing_manager",
        label="Marketing manager",
        titles=pipes("Marketing Manager | Digital Marketing Specialist | Growth Marketer"),
        core=pipes("SEO | Content Marketing | Google Ads | Marketing Automation"),
        extra=pipes(
            "SEM | HubSpot | Email Marketing | Google Analytics | Social Media | Copywriting"
            " | Campaign Management | Salesforce | Marketing Analytics | Paid Social"
        ),
        duties=pipes(
            "plan and run multi-channel campaigns | grow qualified traffic and leads"
            " | own the marketing budget for your channels | report on campaign performance"
        ),
        teams=pipes("Marketing | Growth | Demand Generation | Brand"),
        sectors=pipes("tech | consumer | consumer | services | finance | education"),
        base_usd=92_000,
        remote="hybrid",
        contract="flexible",
        weight=1.4,
        intern_titles=pipes("Marketing Intern | Digital Marketing Intern"),
    ),
    Family(
        key="sales_manager",
        label="Sales manager",
        titles=pipes("Sales Manager | Account Executive | Business Development Manager"),
        core=pipes("B2B Sales | Negotiation | Lead Generation | CRM"),
        extra=pipes(
            "Salesforce | Account Management | Cold Calling | Pipeline Management | SaaS"
            " | Forecasting | HubSpot | Solution Selling | Contract Negotiation"
        ),
        duties=pipes(
            "build and close a healthy pipeline | grow relationships with key accounts"
            " | hit and exceed your quarterly targets | feed customer insight back to product"
        ),
        teams=pipes("Sales | Enterprise Sales | Mid-Market | Partnerships"),
        sectors=pipes("tech | tech | industrial | consumer | finance | services"),
        base_usd=102_000,
        remote="hybrid",
        weight=1.6,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Sales Intern | Business Development Intern"),
    ),
    Family(
        key="customer_support",
        label="Customer support specialist",
        titles=pipes(
            "Customer Support Specialist | Customer Service Representative"
            " | Technical Support Specialist"
        ),
        core=pipes("Customer Service | Troubleshooting | Ticketing Systems | Communication"),
        extra=pipes(
            "Zendesk | CRM | Live Chat | Intercom | Salesforce Service Cloud | SLA Management"
            " | Knowledge Base Writing | Phone Support"
        ),
        duties=pipes(
            "help customers by chat, email and phone | solve problems on the first contact"
            " | escalate bugs clearly to engineering | keep our help center up to date"
        ),
        teams=pipes("Support | Customer Care | Technical Support"),
        sectors=pipes("tech | tech | consumer | consumer | finance"),
        base_usd=48_000,
        remote="remote",
        contract="shifts",
        weight=1.5,
        levels=pipes("junior | mid | senior | lead"),
    ),
    Family(
        key="customer_success",
        label="Customer success manager",
        titles=pipes("Customer Success Manager | Client Success Manager"),
        core=pipes("Account Management | Onboarding | Churn Reduction | Customer Relationships"),
        extra=pipes(
            "Gainsight | Salesforce | Upselling | Business Reviews | SaaS | HubSpot"
            " | Renewals | Product Adoption"
        ),
        duties=pipes(
            "onboard new customers and drive adoption | run regular business reviews"
            " | spot churn risks early | find expansion opportunities with sales"
        ),
        teams=pipes("Customer Success | Enterprise | Mid-Market"),
        sectors=pipes("tech | tech | tech | services"),
        base_usd=86_000,
        remote="remote",
        weight=1.0,
        levels=pipes("junior | mid | senior | lead"),
    ),
    Family(
        key="accountant",
        label="Accountant",
        titles=pipes("Accountant | Staff Accountant | Financial Accountant"),
        core=pipes("General Ledger | Reconciliation | Month-End Close | Excel"),
        extra=pipes(
            "GAAP | IFRS | SAP | QuickBooks | Accounts Payable | Accounts Receivable | Tax"
            " | Audit | NetSuite | Xero | VAT"
        ),
        duties=pipes(
            "run the month-end and year-end close | keep the general ledger accurate"
            " | prepare statutory accounts and tax filings | work with external auditors"
        ),
        teams=pipes("Finance | Accounting | Controlling"),
        sectors=pipes("finance | finance | tech | industrial | consumer | services | health"),
        base_usd=76_000,
        remote="office",
        contract="flexible",
        weight=1.5,
        intern_titles=pipes("Accounting Intern | Audit Intern"),
    ),
    Family(
        key="financial_analyst",
        label="Financial analyst",
        titles=pipes("Financial Analyst | FP&A Analyst | Investment Analyst"),
        core=pipes("Financial Modeling | Excel | Forecasting | Budgeting"),
        extra=pipes(
            "Variance Analysis | Valuation | Power BI | SQL | Anaplan | PowerPoint | SAP"
            " | Bloomberg | Scenario Planning"
        ),
        duties=pipes(
            "build the budget and rolling forecasts | analyse performance against plan"
            " | model investment cases | prepare insights for the leadership team"
        ),
        teams=pipes("FP&A | Finance | Investments | Strategy"),
        sectors=pipes("finance | finance | finance | tech | industrial | consumer"),
        base_usd=92_000,
        remote="office",
        weight=1.2,
        intern_titles=pipes("Finance Intern | Investment Analyst Intern"),
    ),
    Family(
        key="legal_counsel",
        label="Legal counsel",
        titles=pipes("Legal Counsel | Corporate Lawyer | Contracts Manager"),
        core=pipes("Contract Negotiation | Commercial Contracts | Compliance | Legal Research"),
        extra=pipes(
            "GDPR | Corporate Law | Intellectual Property | Employment Law | Litigation"
            " | M&A | Data Protection | Regulatory Affairs"
        ),
        duties=pipes(
            "draft and negotiate commercial agreements | advise teams on legal risk"
            " | keep us compliant with new regulation | manage outside counsel"
        ),
        teams=pipes("Legal | Compliance | Commercial"),
        sectors=pipes("services | services | finance | tech | industrial"),
        base_usd=150_000,
        remote="office",
        weight=0.8,
        levels=pipes("junior | mid | senior | lead"),
        titles_by_level={"lead": pipes("Head of Legal | Lead Legal Counsel")},
    ),
    Family(
        key="content_writer",
        label="Content writer",
        titles=pipes("Content Writer | Copywriter | Content Marketing Writer"),
        core=pipes("Copywriting | Editing | Content Strategy | SEO"),
        extra=pipes(
            "WordPress | Proofreading | Storytelling | CMS | Research | Social Media"
            " | Email Copy | Brand Voice"
        ),
        duties=pipes(
            "write blog posts, guides and landing pages | edit copy for clarity and tone"
            " | plan content around what our readers search for | interview experts for stories"
        ),
        teams=pipes("Content | Marketing | Editorial"),
        sectors=pipes("services | services | tech | consumer | education"),
        base_usd=64_000,
        remote="remote",
        contract="freelance",
        weight=0.9,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Content Writing Intern | Editorial Intern"),
    ),
    Family(
        key="technical_writer",
        label="Technical writer",
        titles=pipes("Technical Writer | Documentation Engineer | API Documentation Writer"),
        core=pipes("Technical Writing | Markdown | Docs as Code | API Documentation"),
        extra=pipes(
            "Git | DITA | Confluence | Information Architecture | OpenAPI | Editing"
            " | Sphinx | Diagramming"
        ),
        duties=pipes(
            "write and maintain developer documentation | document APIs with engineers"
            " | improve the structure of our docs site | review docs changes from other teams"
        ),
        teams=pipes("Documentation | Developer Experience | Product"),
        sectors=pipes("tech | tech | industrial"),
        base_usd=92_000,
        remote="remote",
        contract="freelance",
        english_shift=2,
        weight=0.7,
        levels=pipes("junior | mid | senior | lead | principal"),
    ),
    Family(
        key="registered_nurse",
        label="Nurse",
        titles=pipes("Registered Nurse | Staff Nurse"),
        core=pipes("Patient Care | Medication Administration | Patient Assessment | BLS"),
        extra=pipes(
            "ACLS | Electronic Health Records | Wound Care | IV Therapy | Epic | Triage"
            " | Infection Control | Care Planning | Patient Education"
        ),
        duties=pipes(
            "assess, plan and deliver patient care | administer medication safely"
            " | work closely with doctors and allied health staff | support patients and families"
        ),
        teams=pipes("Emergency | Intensive Care | Surgery | Paediatrics | Oncology | Cardiology"),
        sectors=pipes("health"),
        base_usd=82_000,
        remote="onsite",
        contract="shifts",
        english_shift=-1,
        weight=1.6,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Student Nurse | Nursing Intern"),
        titles_by_level={
            "junior": pipes("Graduate Registered Nurse | Newly Qualified Nurse"),
            "lead": pipes("Charge Nurse | Nurse Unit Manager"),
        },
    ),
    Family(
        key="pharmacist",
        label="Pharmacist",
        titles=pipes("Pharmacist | Clinical Pharmacist"),
        core=pipes("Dispensing | Pharmacology | Patient Counseling | Drug Interactions"),
        extra=pipes(
            "Medication Therapy Management | Pharmacy Law | Compounding | Clinical Pharmacy"
            " | Inventory Management | Prescription Review | Immunization"
        ),
        duties=pipes(
            "dispense medicines accurately and safely | counsel patients on their medication"
            " | review prescriptions with prescribers | manage pharmacy stock"
        ),
        teams=pipes("Dispensary | Clinical Services | Medicines Management"),
        sectors=pipes("health | pharmacy | pharmacy"),
        base_usd=125_000,
        remote="onsite",
        contract="shifts",
        weight=0.7,
        levels=pipes("junior | mid | senior | lead"),
        titles_by_level={"lead": pipes("Pharmacy Manager | Lead Pharmacist")},
    ),
    Family(
        key="physiotherapist",
        label="Physiotherapist",
        titles=pipes("Physiotherapist | Physical Therapist"),
        core=pipes("Manual Therapy | Rehabilitation | Exercise Prescription"),
        extra=pipes(
            "Musculoskeletal Assessment | Sports Injuries | Patient Education"
            " | Electrotherapy | Clinical Documentation | Neurological Rehabilitation"
            " | Dry Needling"
        ),
        duties=pipes(
            "assess and treat patients with a wide range of conditions"
            " | design individual rehabilitation programmes | track patient progress carefully"
            " | work with doctors and occupational therapists"
        ),
        teams=pipes("Outpatients | Sports Medicine | Rehabilitation"),
        sectors=pipes("health"),
        base_usd=80_000,
        remote="onsite",
        contract="shifts",
        english_shift=-1,
        weight=0.7,
        levels=pipes("junior | mid | senior | lead"),
    ),
    Family(
        key="teacher",
        label="Teacher",
        titles=pipes("Teacher | Secondary School Teacher | Primary School Teacher"),
        core=pipes("Lesson Planning | Classroom Management | Student Assessment"),
        extra=pipes(
            "Curriculum Development | Differentiated Instruction | Google Classroom"
            " | Special Educational Needs | Safeguarding | Parent Communication"
            " | STEM Education | Educational Technology"
        ),
        duties=pipes(
            "plan and teach engaging lessons | track and support each student's progress"
            " | contribute to the wider life of the school | communicate regularly with parents"
        ),
        teams=pipes("Mathematics | Science | English | History | Modern Languages | Computing"),
        sectors=pipes("education"),
        base_usd=58_000,
        remote="onsite",
        contract="shifts",
        english_shift=-1,
        weight=1.5,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Student Teacher | Teaching Assistant Intern"),
        titles_by_level={
            "junior": pipes("Newly Qualified Teacher | Early Career Teacher"),
            "lead": pipes("Head of Department | Lead Teacher"),
        },
    ),
    Family(
        key="mechanical_engineer",
        label="Mechanical engineer",
        titles=pipes("Mechanical Engineer | Mechanical Design Engineer"),
        core=pipes("SolidWorks | CAD | GD&T | Product Design"),
        extra=pipes(
            "AutoCAD | FEA | ANSYS | Thermodynamics | CATIA | Prototyping | Creo"
            " | Manufacturing Processes | Tolerance Analysis | DFM"
        ),
        duties=pipes(
            "design mechanical parts and assemblies | run simulations and tolerance studies"
            " | build and test prototypes | support production with suppliers"
        ),
        teams=pipes("Mechanical Design | R&D | Product Development | Manufacturing"),
        sectors=pipes("industrial"),
        base_usd=96_000,
        remote="onsite",
        weight=1.3,
        intern_titles=pipes("Mechanical Engineering Intern"),
    ),
    Family(
        key="electrical_engineer",
        label="Electrical engineer",
        titles=pipes("Electrical Engineer | Power Systems Engineer | Hardware Engineer"),
        core=pipes("Circuit Design | PCB Design | MATLAB | Power Electronics"),
        extra=pipes(
            "Altium Designer | PLC Programming | AutoCAD Electrical | Simulink"
            " | Electrical Codes | EPLAN | Signal Processing | Analog Design | EMC Testing"
        ),
        duties=pipes(
            "design circuits and schematics | lay out and review PCBs"
            " | test hardware in the lab | make sure designs meet safety standards"
        ),
        teams=pipes("Electronics | Power Systems | Hardware | R&D"),
        sectors=pipes("industrial | industrial | tech"),
        base_usd=102_000,
        remote="onsite",
        weight=1.1,
        intern_titles=pipes("Electrical Engineering Intern"),
    ),
    Family(
        key="civil_engineer",
        label="Civil engineer",
        titles=pipes("Civil Engineer | Structural Engineer | Site Engineer"),
        core=pipes("AutoCAD | Structural Analysis | Construction Management | Civil 3D"),
        extra=pipes(
            "Revit | ETABS | Surveying | Geotechnical Engineering | Site Inspection | SAP2000"
            " | Eurocodes | Project Estimation | BIM"
        ),
        duties=pipes(
            "design structures and infrastructure | supervise work on site"
            " | check drawings and calculations | coordinate with contractors and authorities"
        ),
        teams=pipes("Structures | Infrastructure | Construction | Transport"),
        sectors=pipes("industrial"),
        base_usd=92_000,
        remote="onsite",
        weight=1.1,
        intern_titles=pipes("Civil Engineering Intern"),
    ),
    Family(
        key="supply_chain",
        label="Supply chain specialist",
        titles=pipes("Supply Chain Analyst | Logistics Coordinator | Procurement Specialist"),
        core=pipes("Inventory Management | Demand Planning | Procurement | ERP"),
        extra=pipes(
            "SAP | Excel | Logistics | Vendor Management | S&OP | Lean"
            " | Warehouse Management Systems | Incoterms | Supplier Negotiation"
        ),
        duties=pipes(
            "plan stock levels across our warehouses | negotiate with suppliers"
            " | track shipments and solve delays | improve forecasting accuracy"
        ),
        teams=pipes("Supply Chain | Logistics | Procurement | Operations"),
        sectors=pipes("consumer | consumer | industrial | industrial | health"),
        base_usd=76_000,
        remote="office",
        weight=1.2,
        levels=pipes("intern | junior | mid | senior | lead"),
        intern_titles=pipes("Supply Chain Intern | Procurement Intern"),
    ),
    Family(
        key="office_administrator",
        label="Office administrator",
        titles=pipes("Office Manager | Administrative Assistant | Executive Assistant"),
        core=pipes("Microsoft Office | Scheduling | Calendar Management | Office Administration"),
        extra=pipes(
            "Travel Coordination | Data Entry | Bookkeeping | Google Workspace"
            " | Event Planning | Vendor Management | Minute Taking"
        ),
        duties=pipes(
            "keep the office running smoothly | manage busy calendars and travel"
            " | welcome visitors and new starters | organise team events"
        ),
        teams=pipes("Operations | Executive Office | Workplace"),
        sectors=pipes("tech | finance | health | education | industrial | consumer | services"),
        base_usd=52_000,
        remote="onsite",
        contract="flexible",
        english_shift=-1,
        weight=1.1,
        levels=pipes("junior | mid | senior"),
    ),
)

ROLE_FAMILIES: Mapping[str, Family] = MappingProxyType({f.key: f for f in FAMILIES})
"""Family key -> Family, e.g. ``ROLE_FAMILIES["backend_engineer"].query``."""
