//! Trace context crosses the bus: the consumer's span is a child of the producer's.
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{InMemorySpanExporter, SdkTracerProvider},
};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn consumer_span_is_a_child_of_the_producer_span() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, || {
        let producer = tracing::info_span!("http.request");
        let traceparent = producer.in_scope(bus::trace::current_traceparent);
        drop(producer);
        assert!(
            traceparent.as_deref().is_some_and(|t| t.starts_with("00-")),
            "{traceparent:?}"
        );
        let consumer = tracing::info_span!("event.consume");
        bus::trace::continue_trace(&consumer, traceparent.as_deref());
        drop(consumer);
    });
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().unwrap_or_default();
    let producer = spans.iter().find(|s| s.name == "http.request");
    let consumer = spans.iter().find(|s| s.name == "event.consume");
    let (Some(p), Some(c)) = (producer, consumer) else {
        panic!("spans not exported: {spans:?}")
    };
    assert_eq!(c.span_context.trace_id(), p.span_context.trace_id());
    assert_eq!(c.parent_span_id, p.span_context.span_id());
}
