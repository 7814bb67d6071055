export function NotFound() {
  return (
    <section class="screen">
      <h1>Not found</h1>
      <p>
        There is no screen at this address. <a href="/">Go to the start</a>.
      </p>
    </section>
  );
}
