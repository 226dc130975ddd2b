// The console's own few lines: a header checkbox selects the page's rows, copy buttons
// copy, forms marked data-confirm ask first. Everything works without them but the copy.
document.addEventListener("change", (e) => {
  const all = e.target.closest("[data-select-all]");
  if (!all) return;
  for (const box of document.querySelectorAll(`input[name="${all.dataset.selectAll}"]`)) box.checked = all.checked;
});
document.addEventListener("click", (e) => {
  const b = e.target.closest("[data-copy]");
  if (!b) return;
  navigator.clipboard?.writeText(b.dataset.copy);
  const say = document.getElementById("announcer");
  if (say) say.textContent = b.dataset.copied || "copied";
});
document.addEventListener("submit", (e) => {
  const form = e.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
