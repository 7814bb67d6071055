"""Optional OpenTelemetry tracing (off by default; `AGIO_TRACING_ENABLED=true`).

Spans: each HTTP request (`RequestContextMiddleware`), each run (`invoke_agent`, a root
span linked to the request that started it: a run outlives its request), each step, each
model call (`chat`, with the GenAI semantic-convention attributes: provider, model,
temperature, max tokens, input and output tokens, finish reasons) and each tool call
(`execute_tool`); the model and tool spans come from the wrappers in `instrumented.py`.
Exported by OTLP over HTTP (`AGIO_TRACING_EXPORTER=otlp`, the endpoint
from `AGIO_OTLP_ENDPOINT` or the standard `OTEL_EXPORTER_OTLP_*` variables) or to the
console.

Each app has its own tracer provider (none is installed globally), so that nothing is
traced when tracing is off and several apps in one process do not mix.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

from agio import __version__
from agio.config.settings import Settings


class Tracing:
    def __init__(self, settings: Settings) -> None:
        self.provider: TracerProvider | None = None
        self.tracer: trace.Tracer = trace.NoOpTracer()
        if not settings.tracing_enabled:
            return
        self.provider = TracerProvider(
            resource=Resource.create(
                {"service.name": settings.tracing_service_name, "service.version": __version__}
            ),
            sampler=ParentBasedTraceIdRatio(settings.tracing_sample_ratio),
        )
        exporter: SpanExporter
        if settings.tracing_exporter == "console":
            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = (
                OTLPSpanExporter(endpoint=settings.otlp_endpoint)
                if settings.otlp_endpoint
                else OTLPSpanExporter()
            )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("agio", __version__)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
